/**
 * Decimal-string arithmetic for the ledger's Lua scripts (Lua source, as a string constant).
 *
 * Redis runs Lua 5.1, whose only number type is a double: integers above 2^53 lose their low
 * digits, and amounts in base units reach 2^96 and beyond (a uint128 deposit). So the scripts never
 * turn an amount into a Lua number. Amounts are canonical decimal strings — `0`, or digits without
 * a leading zero — and these functions compare, add and subtract them exactly:
 *
 *  - `dcmp(a, b)` → -1 | 0 | 1: a longer canonical string is the larger number; strings of equal
 *    length are compared in 14-digit chunks, each exact as a double (< 2^53). Lua's `<` on strings
 *    is NOT used, because Redis compares strings with `strcoll` under the server's locale.
 *  - `dadd(a, b)`, `dsub(a, b)` (requires a ≥ b, else raises): 7-digit limbs, little-endian, so a
 *    limb sum plus carry stays far below 2^53.
 *  - `dmax(a, b)`.
 *
 * Every result is canonical again. The Node side only ever sends canonical strings
 * (`bigint.toString()`); `test/ledger/redis-decimal.test.ts` checks these functions inside a real
 * Redis against `BigInt` with fast-check, including amounts around 2^96 and 2^128.
 */

/** Lua source defining `dcmp`, `dadd`, `dsub` and `dmax` as locals of the script it prefixes. */
export const luaDecimal = String.raw`
local LIMB = 7
local LIMB_BASE = 10000000

local function dcmp(a, b)
  local la, lb = #a, #b
  if la ~= lb then
    if la < lb then return -1 end
    return 1
  end
  local i = 1
  while i <= la do
    local j = i + 13
    local x, y = tonumber(string.sub(a, i, j)), tonumber(string.sub(b, i, j))
    if x ~= y then
      if x < y then return -1 end
      return 1
    end
    i = j + 1
  end
  return 0
end

local function limbs(s)
  local out = {}
  local i = #s
  while i >= 1 do
    local j = i - LIMB + 1
    if j < 1 then j = 1 end
    out[#out + 1] = tonumber(string.sub(s, j, i))
    i = j - 1
  end
  return out
end

local function unlimb(l)
  local n = #l
  while n > 1 and l[n] == 0 do n = n - 1 end
  local parts = { string.format('%d', l[n]) }
  for k = n - 1, 1, -1 do
    parts[#parts + 1] = string.format('%07d', l[k])
  end
  return table.concat(parts)
end

local function dadd(a, b)
  local x, y = limbs(a), limbs(b)
  local n = #x
  if #y > n then n = #y end
  local out, carry = {}, 0
  for k = 1, n do
    local s = (x[k] or 0) + (y[k] or 0) + carry
    if s >= LIMB_BASE then
      out[k] = s - LIMB_BASE
      carry = 1
    else
      out[k] = s
      carry = 0
    end
  end
  if carry > 0 then out[n + 1] = carry end
  return unlimb(out)
end

local function dsub(a, b)
  if dcmp(a, b) < 0 then
    error('ledger: negative amount (' .. a .. ' - ' .. b .. ')')
  end
  local x, y = limbs(a), limbs(b)
  local out, borrow = {}, 0
  for k = 1, #x do
    local s = x[k] - (y[k] or 0) - borrow
    if s < 0 then
      out[k] = s + LIMB_BASE
      borrow = 1
    else
      out[k] = s
      borrow = 0
    end
  end
  return unlimb(out)
end

local function dmax(a, b)
  if dcmp(a, b) >= 0 then return a end
  return b
end
`
