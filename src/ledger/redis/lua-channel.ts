/**
 * The Lua helpers every ledger script shares: loading one channel's keys, the two sub-steps of
 * `src/ledger/transitions.ts` that several transitions reuse (`purgeExpired`,
 * `promoteSettleVoucher`), and writing the changes back.
 *
 * Invariants the helpers keep, so that no script can leave a channel half-updated:
 *  - a script first READS (`load_channel`, `load_reservations`), then decides on in-memory copies
 *    (`put`, `remove`, `add_reservation`, `delete_reservation`), and WRITES only at its very end
 *    (`save_channel`, `save_reservations`). Redis does not roll back a script that fails half-way,
 *    so every check that can raise (a negative amount in `dsub`, a malformed field) runs before
 *    the first write;
 *  - scripts touch only the keys they are given, both carrying the channel's hash tag;
 *  - amounts stay decimal strings (see lua-decimal.ts); times (ms) and counters are parsed
 *    with `tonumber` only for comparisons of values below 2^53 and never formatted back from a
 *    double: `units` is incremented with `dadd`.
 *
 * Field names are those of docs/DESIGN.md "Redis key schema" and of src/ledger/redis/record.ts.
 */
import { luaDecimal } from './lua-decimal.js'

/** Lua source: decimal arithmetic plus the channel helpers, prefixed to every script. */
export const luaChannel =
  luaDecimal +
  String.raw`
local function load_channel(key)
  local raw = redis.call('HGETALL', key)
  if #raw == 0 then return nil end
  local f = {}
  for i = 1, #raw, 2 do f[raw[i]] = raw[i + 1] end
  return { key = key, f = f, set = {}, unset = {} }
end

local function put(c, field, value)
  c.f[field] = value
  c.set[field] = true
  c.unset[field] = nil
end

local function remove(c, field)
  if c.f[field] ~= nil then
    c.f[field] = nil
    c.unset[field] = true
    c.set[field] = nil
  end
end

local function save_channel(c)
  local args = {}
  for field in pairs(c.set) do
    args[#args + 1] = field
    args[#args + 1] = c.f[field]
  end
  if #args > 0 then redis.call('HSET', c.key, unpack(args)) end
  local gone = {}
  for field in pairs(c.unset) do gone[#gone + 1] = field end
  if #gone > 0 then redis.call('HDEL', c.key, unpack(gone)) end
end

-- A reservation's value: '<amount> <expiresAt>' for a reserve, with ' h' for a hold and ' v' for a
-- voided id (transitions.ts Reservation).
local function load_reservations(key)
  local raw = redis.call('HGETALL', key)
  local items = {}
  for i = 1, #raw, 2 do
    local value = raw[i + 1]
    local space = string.find(value, ' ', 1, true)
    if space == nil then error('ledger: malformed reservation ' .. raw[i]) end
    local rest = string.sub(value, space + 1)
    local kind = 'r'
    local second = string.find(rest, ' ', 1, true)
    if second ~= nil then
      kind = string.sub(rest, second + 1)
      rest = string.sub(rest, 1, second - 1)
    end
    items[raw[i]] = { amount = string.sub(value, 1, space - 1), at = tonumber(rest), kind = kind }
  end
  return { key = key, items = items, added = {}, deleted = {} }
end

local function add_reservation(r, id, amount, expires_at, kind)
  r.items[id] = { amount = amount, at = tonumber(expires_at), kind = kind }
  if kind == 'r' then
    r.added[id] = amount .. ' ' .. expires_at
  else
    r.added[id] = amount .. ' ' .. expires_at .. ' ' .. kind
  end
  r.deleted[id] = nil
end

local function delete_reservation(r, id)
  r.items[id] = nil
  r.deleted[id] = true
  r.added[id] = nil
end

local function save_reservations(r)
  local gone = {}
  for id in pairs(r.deleted) do gone[#gone + 1] = id end
  if #gone > 0 then redis.call('HDEL', r.key, unpack(gone)) end
  local args = {}
  for id, value in pairs(r.added) do
    args[#args + 1] = id
    args[#args + 1] = value
  end
  if #args > 0 then redis.call('HSET', r.key, unpack(args)) end
end

local function parse_pending(text)
  local list = {}
  if text == nil or text == '' then return list end
  for item in string.gmatch(text, '[^,]+') do
    local colon = string.find(item, ':', 1, true)
    list[#list + 1] = { cum = string.sub(item, 1, colon - 1), sig = string.sub(item, colon + 1) }
  end
  return list
end

local function format_pending(list)
  local parts = {}
  for i, v in ipairs(list) do parts[i] = v.cum .. ':' .. v.sig end
  return table.concat(parts, ',')
end

-- transitions.ts promoteSettleVoucher: the settle voucher moves up to the highest retained voucher
-- not above the final part of spent (spent - held), so a settlement never claims value that was
-- not served, nor a charge that may still be refunded.
local function promote_settle_voucher(c)
  local bound = dsub(c.f.spent, c.f.held or '0')
  local best_cum, best_sig = c.f.settleCumulative, c.f.settleSignature
  local keep, moved = {}, false
  for _, v in ipairs(parse_pending(c.f.pending)) do
    if dcmp(v.cum, bound) <= 0 then
      if best_cum == nil or dcmp(v.cum, best_cum) > 0 then
        best_cum, best_sig = v.cum, v.sig
      end
      moved = true
    else
      keep[#keep + 1] = v
    end
  end
  if moved then
    put(c, 'pending', format_pending(keep))
    put(c, 'settleCumulative', best_cum)
    put(c, 'settleSignature', best_sig)
  end
end

-- transitions.ts purgeExpired: a reservation whose time is up stops counting against the voucher;
-- a hold's charge becomes final (and settleable); a voided id is forgotten.
local function purge_expired(c, r, now)
  local reserved_out, held_out, any = '0', '0', false
  local limit = tonumber(now)
  for id, item in pairs(r.items) do
    if item.at <= limit then
      if item.kind == 'r' then
        reserved_out = dadd(reserved_out, item.amount)
      elseif item.kind == 'h' then
        held_out = dadd(held_out, item.amount)
      end
      any = true
      delete_reservation(r, id)
    end
  end
  if any then
    put(c, 'reserved', dsub(c.f.reserved, reserved_out))
    if held_out ~= '0' then
      put(c, 'held', dsub(c.f.held or '0', held_out))
      promote_settle_voucher(c)
    end
    put(c, 'updatedAt', now)
  end
end

-- The channel hash remembers when its value first went unsettled; '1' tells Node to add the
-- channel to the (other-slot) unsettled index. Exact, because it is decided here, in-slot.
local function mark_unsettled(c, now)
  if c.f.unsettledSince == nil and dcmp(c.f.spent, c.f.settled) > 0 then
    put(c, 'unsettledSince', now)
    return '1'
  end
  return '0'
end

-- port.ts settleableOf: spent value the settle voucher covers beyond what the chain settled.
local function settleable_of(c)
  local voucher = c.f.settleCumulative
  if voucher == nil or dcmp(voucher, c.f.settled) <= 0 then return '0' end
  return dsub(voucher, c.f.settled)
end

local function snapshot_of(c)
  return { c.f.acceptedCumulative, c.f.spent, c.f.units, c.f.reserved, c.f.deposit }
end

local function reply(head, c, tail)
  local out = {}
  for _, v in ipairs(head) do out[#out + 1] = v end
  for _, v in ipairs(snapshot_of(c)) do out[#out + 1] = v end
  if tail ~= nil then
    for _, v in ipairs(tail) do out[#out + 1] = v end
  end
  return out
end
`
