/**
 * The ledger's Lua scripts: one per mutation of the ledger port, each the Redis twin of one
 * function of `src/ledger/transitions.ts` (the specification; the contract suite holds both
 * adapters to it). They live here as string constants, not `.lua` files, so `tsc` ships them in
 * dist/ with the rest of the code.
 *
 * Every script
 *  - starts with the `#!lua` shebang (Redis ≥ 7): Redis then refuses the whole script up front
 *    when it is out of memory, instead of failing a write half-way through a transition;
 *  - touches only KEYS[1] (the channel hash), KEYS[2] (its reservations) and, for the two that
 *    can finalize a channel, KEYS[3] (its settlement fence), which share the channel's hash tag,
 *    so it also runs unchanged on a Redis Cluster;
 *  - reads, decides, then writes (see lua-channel.ts), and replies with plain strings: the
 *    outcome kind first, then figures as decimal strings.
 *
 * The ARGV layout of each script is written above it and built by ledger.ts; the reply layout
 * is written above it too and decoded, field by name, by replies.ts.
 */
import { luaChannel } from './lua-channel.js'

/** A script's source and how many keys it takes (the ledger's and the settlement store's). */
export type RedisScript = { readonly source: string; readonly keys: number }

const script = (body: string, keys = 2): RedisScript => ({
  source: `#!lua\n${luaChannel}\n${body}`,
  keys,
})

/**
 * ARGV: now, channelId, chainId, escrow, payer, payee, operator, token, salt, authorizedSigner,
 * expiringNonceHash, deposit, settled.
 * Reply: {'exists' | 'created', fields}.
 */
const open = script(String.raw`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return { 'exists', redis.call('HGETALL', KEYS[1]) }
end
-- A reservations key without its channel hash can only be a leftover (the hash expired first, or
-- was deleted by hand): its amounts are not in this new record's 'reserved', so they must go.
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1],
  'channelId', ARGV[2], 'chainId', ARGV[3], 'escrow', ARGV[4],
  'payer', ARGV[5], 'payee', ARGV[6], 'operator', ARGV[7], 'token', ARGV[8], 'salt', ARGV[9],
  'authorizedSigner', ARGV[10], 'expiringNonceHash', ARGV[11],
  'deposit', ARGV[12], 'settled', ARGV[13], 'closeRequestedAt', '0', 'status', 'open',
  'acceptedCumulative', '0', 'acceptedSignature', '0x', 'spent', '0', 'units', '0',
  'reserved', '0', 'held', '0', 'pending', '', 'updatedAt', ARGV[1])
return { 'created', redis.call('HGETALL', KEYS[1]) }
`)

/**
 * ARGV: now, hasVoucher ('1'|'0'), voucherCumulative, voucherSignature, amount, mode
 * ('reserve'|'hold'|'commit'|'none'), hasReservation ('1'|'0'), reservationId, expiresAt,
 * minDelta, maxPendingVouchers.
 * Reply: {'authorized', 'new'|'same'|'lower'|'none', snapshot…, newlyUnsettled, settleable}
 *      | {'insufficient', available, snapshot…} | {'voucher-rejected', reason, snapshot…}
 *      | {'not-found'} | {'closing'} | {'finalized'} | {'reservation-incomplete'}.
 * snapshot = accepted, spent, units, reserved, deposit.
 */
const authorize = script(String.raw`
local c = load_channel(KEYS[1])
if c == nil then return { 'not-found' } end
if c.f.status == 'finalized' then return { 'finalized' } end
if c.f.status == 'closing' or c.f.closeRequestedAt ~= '0' then return { 'closing' } end
local now = ARGV[1]
local r = load_reservations(KEYS[2])
purge_expired(c, r, now)

local outcome = 'none'
if ARGV[2] == '1' then
  local cum, sig = ARGV[3], ARGV[4]
  local highest = c.f.acceptedCumulative
  local order = dcmp(cum, highest)
  local rejection = nil
  if dcmp(cum, c.f.deposit) > 0 then
    rejection = 'exceeds-deposit'
  elseif highest == '0' and dcmp(cum, '0') == 0 then
    rejection = 'not-increasing'
  elseif order < 0 then
    -- A lower voucher buys nothing new: it pays from the headroom already held (transitions.ts).
    outcome = 'lower'
  elseif order == 0 then
    outcome = 'same'
  elseif dcmp(dsub(cum, highest), ARGV[10]) < 0 then
    rejection = 'delta-too-small'
  else
    local pending = parse_pending(c.f.pending)
    pending[#pending + 1] = { cum = cum, sig = sig }
    local first = #pending - tonumber(ARGV[11]) + 1
    if first > 1 then
      local kept = {}
      for i = first, #pending do kept[#kept + 1] = pending[i] end
      pending = kept
    end
    put(c, 'pending', format_pending(pending))
    put(c, 'acceptedCumulative', cum)
    put(c, 'acceptedSignature', sig)
    outcome = 'new'
  end
  if rejection ~= nil then
    -- Rejected vouchers change nothing, but expired reservations stay purged (as in memory).
    save_channel(c)
    save_reservations(r)
    return reply({ 'voucher-rejected', rejection }, c)
  end
end

local amount = ARGV[5]
local available = dsub(dsub(c.f.acceptedCumulative, c.f.spent), c.f.reserved)
if dcmp(amount, available) > 0 then
  -- Only the charge is refused: a new voucher is a valid, signed claim and stays accepted.
  save_channel(c)
  save_reservations(r)
  return reply({ 'insufficient', available }, c)
end

local mode = ARGV[6]
local existing = nil
if ARGV[7] == '1' then existing = r.items[ARGV[8]] end
if existing ~= nil and existing.kind == 'v' then
  -- Its request was already answered without a charge (the release came first): the voucher
  -- stays accepted, nothing is charged or held.
elseif (mode == 'reserve' or mode == 'hold') and amount ~= '0' then
  -- transitions.ts throws here; nothing is written, as in memory where the throw discards the step.
  if ARGV[7] ~= '1' then return { 'reservation-incomplete' } end
  if mode == 'reserve' then
    add_reservation(r, ARGV[8], amount, ARGV[9], 'r')
    put(c, 'reserved', dadd(c.f.reserved, amount))
  else
    add_reservation(r, ARGV[8], amount, ARGV[9], 'h')
    put(c, 'spent', dadd(c.f.spent, amount))
    put(c, 'units', dadd(c.f.units, '1'))
    put(c, 'held', dadd(c.f.held or '0', amount))
  end
elseif mode == 'commit' and amount ~= '0' then
  put(c, 'spent', dadd(c.f.spent, amount))
  put(c, 'units', dadd(c.f.units, '1'))
  promote_settle_voucher(c)
end
put(c, 'updatedAt', now)
local newly = mark_unsettled(c, now)
save_channel(c)
save_reservations(r)
return reply({ 'authorized', outcome }, c, { newly, settleable_of(c) })
`)

/**
 * ARGV: now, reservationId, amount ('' = the whole reservation).
 * Reply: {'committed', snapshot…, newlyUnsettled, settleable} | {'missing'} | {'finalized'}
 *      | {'over-reservation'} (nothing written).
 */
const commit = script(String.raw`
local c = load_channel(KEYS[1])
if c == nil then return { 'missing' } end
if c.f.status == 'finalized' then return { 'finalized' } end
local now, id = ARGV[1], ARGV[2]
local r = load_reservations(KEYS[2])
local held = r.items[id]
if held == nil or held.kind ~= 'r' or held.at <= tonumber(now) then
  purge_expired(c, r, now)
  save_channel(c)
  save_reservations(r)
  return { 'missing' }
end
local charged = held.amount
if ARGV[3] ~= nil and ARGV[3] ~= '' then
  -- transitions.ts throws here; nothing is written.
  if dcmp(ARGV[3], held.amount) > 0 then return { 'over-reservation' } end
  charged = ARGV[3]
end
-- The reservation is resolved exactly once: deleted in the same step that makes its value spent;
-- what it held beyond the charge goes back to the headroom.
delete_reservation(r, id)
put(c, 'spent', dadd(c.f.spent, charged))
put(c, 'units', dadd(c.f.units, '1'))
put(c, 'reserved', dsub(c.f.reserved, held.amount))
put(c, 'updatedAt', now)
promote_settle_voucher(c)
purge_expired(c, r, now)
local newly = mark_unsettled(c, now)
save_channel(c)
save_reservations(r)
return reply({ 'committed' }, c, { newly, settleable_of(c) })
`)

/**
 * ARGV: now, reservationId, voidUntil ('' for none).
 * Reply: {'released', snapshot…} | {'missing'}. Like transitions.ts, a release needs no open
 * channel; a hold is refunded unless it lapsed; a missing id is voided until voidUntil.
 */
const release = script(String.raw`
local c = load_channel(KEYS[1])
if c == nil then return { 'missing' } end
local now, id = ARGV[1], ARGV[2]
local r = load_reservations(KEYS[2])
local held = r.items[id]
if held == nil or held.kind == 'v' or (held.kind == 'h' and held.at <= tonumber(now)) then
  if held == nil and ARGV[3] ~= nil and ARGV[3] ~= '' then
    add_reservation(r, id, '0', ARGV[3], 'v')
  end
  purge_expired(c, r, now)
  save_channel(c)
  save_reservations(r)
  return { 'missing' }
end
delete_reservation(r, id)
if held.kind == 'h' then
  put(c, 'spent', dsub(c.f.spent, held.amount))
  put(c, 'units', dsub(c.f.units, '1'))
  put(c, 'held', dsub(c.f.held or '0', held.amount))
else
  put(c, 'reserved', dsub(c.f.reserved, held.amount))
end
put(c, 'updatedAt', now)
purge_expired(c, r, now)
save_channel(c)
save_reservations(r)
return reply({ 'released' }, c)
`)

/**
 * ARGV: now, reservationId… (one or more holds to make final).
 * Reply: {'confirmed', count, settleable} | {'missing'}.
 */
const confirmHolds = script(String.raw`
local c = load_channel(KEYS[1])
if c == nil then return { 'missing' } end
local now = ARGV[1]
local r = load_reservations(KEYS[2])
local limit = tonumber(now)
local count, amount = 0, '0'
for i = 2, #ARGV do
  local hold = r.items[ARGV[i]]
  if hold ~= nil and hold.kind == 'h' and hold.at > limit then
    delete_reservation(r, ARGV[i])
    count = count + 1
    amount = dadd(amount, hold.amount)
  end
end
if count > 0 then
  put(c, 'held', dsub(c.f.held or '0', amount))
  put(c, 'updatedAt', now)
  promote_settle_voucher(c)
  purge_expired(c, r, now)
  save_channel(c)
  save_reservations(r)
end
return { 'confirmed', tostring(count), settleable_of(c) }
`)

/** The common head of the record-updating scripts: {'not-found'} / {'finalized'} or a channel. */
const updateHead = String.raw`
local c = load_channel(KEYS[1])
if c == nil then return { 'not-found' } end
`
const refuseFinalized = String.raw`
if c.f.status == 'finalized' then return { 'finalized' } end
`
const okReply = String.raw`
save_channel(c)
return { 'ok', redis.call('HGETALL', KEYS[1]) }
`

/**
 * Keeps a finalized channel for `ttlSeconds` (ARGV name given by the caller), then lets it go —
 * with its settlement fence (KEYS[3]). Why the fence may go now: it must only outlive every lease
 * of the channel, and a lease lives `settlement.lockTtlMs` (seconds to minutes) while the channel
 * is kept for days; a lease taken later still (settlement-scripts.ts) extends the fence itself.
 */
const expireFinalized = (ttlArg: string) => String.raw`
if tonumber(${ttlArg}) > 0 then
  redis.call('EXPIRE', KEYS[1], ${ttlArg})
  redis.call('EXPIRE', KEYS[2], ${ttlArg})
  redis.call('EXPIRE', KEYS[3], ${ttlArg})
end
`

/** ARGV: now, deposit. Reply: {'ok', fields} | {'not-found'} | {'finalized'}. */
const recordTopUp = script(
  updateHead +
    refuseFinalized +
    String.raw`
put(c, 'deposit', dmax(c.f.deposit, ARGV[2]))
put(c, 'closeRequestedAt', '0')
put(c, 'updatedAt', ARGV[1])
` +
    okReply,
)

/**
 * KEYS: channel, reservations, and the fence when the deposit is 0 (the only case that touches
 * it). ARGV: now, deposit, settled, closeRequestedAt, finalizedTtlSeconds.
 * Reply: {'ok', fields} | {'not-found'} | {'finalized'}.
 */
const syncChain = script(
  updateHead +
    refuseFinalized +
    String.raw`
if ARGV[2] == '0' then
  -- The channel is gone from chain: closed or withdrawn. Keep the last known figures.
  put(c, 'status', 'finalized')
  put(c, 'updatedAt', ARGV[1])
  save_channel(c)
` +
    expireFinalized('ARGV[5]') +
    String.raw`
  return { 'ok', redis.call('HGETALL', KEYS[1]) }
end
put(c, 'deposit', dmax(c.f.deposit, ARGV[2]))
put(c, 'settled', dmax(c.f.settled, ARGV[3]))
put(c, 'closeRequestedAt', ARGV[4])
put(c, 'updatedAt', ARGV[1])
-- Settled caught up with spent: the next charge starts a new unsettled period (and re-adds the
-- channel to the index should its entry have been lost).
if c.f.unsettledSince ~= nil and dcmp(c.f.spent, c.f.settled) <= 0 then
  remove(c, 'unsettledSince')
end
` +
    okReply,
  3,
)

/** ARGV: now. Reply: {'ok', fields} | {'not-found'} | {'finalized'}. */
const markClosing = script(
  updateHead +
    refuseFinalized +
    String.raw`
put(c, 'status', 'closing')
put(c, 'updatedAt', ARGV[1])
` +
    okReply,
)

/** ARGV: now. Reply: {'ok', fields} | {'not-found'} | {'finalized'}. */
const cancelClosing = script(
  updateHead +
    refuseFinalized +
    String.raw`
if c.f.status == 'closing' then
  put(c, 'status', 'open')
  put(c, 'updatedAt', ARGV[1])
end
` +
    okReply,
)

/**
 * KEYS: channel, reservations, fence. ARGV: now, settled, closeTxHash ('' for none),
 * finalizedTtlSeconds.
 * Reply: {'ok', fields} | {'not-found'}. Finalizing a finalized channel is allowed (transitions.ts).
 */
const finalize = script(
  updateHead +
    String.raw`
put(c, 'status', 'finalized')
put(c, 'settled', dmax(c.f.settled, ARGV[2]))
if ARGV[3] ~= '' then put(c, 'closeTxHash', ARGV[3]) end
put(c, 'updatedAt', ARGV[1])
save_channel(c)
` +
    expireFinalized('ARGV[4]') +
    String.raw`
return { 'ok', redis.call('HGETALL', KEYS[1]) }
`,
  3,
)

/** Every ledger script by the port operation it implements. */
export const ledgerScripts = {
  open,
  authorize,
  commit,
  release,
  confirmHolds,
  recordTopUp,
  syncChain,
  markClosing,
  cancelClosing,
  finalize,
} as const

export type LedgerScriptName = keyof typeof ledgerScripts
