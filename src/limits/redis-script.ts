/**
 * The GCRA step (gcra.ts) as one Lua script: read the key's TAT, decide, write — in one atomic
 * step, so concurrent requests on several gateway instances can never both take the last slot.
 *
 * KEYS[1]: the limit key. ARGV: nowUs, intervalUs, burst.
 * Reply: {'allowed'} or {'limited', retryAfterMs}.
 *
 * Amounts here are microsecond times below 2^53, exact in Lua's doubles; they are written with
 * '%.0f' because Lua 5.1's tostring keeps only 14 significant digits.
 */
import type { RedisScript } from '../ledger/redis/scripts.js'

export const rateLimitScripts = {
  gcra: {
    keys: 1,
    source: String.raw`#!lua
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local stored = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local tat = math.max(stored, now)
local tolerance = interval * (burst - 1)
if tat - now > tolerance then
  return { 'limited', string.format('%.0f', math.ceil((tat - tolerance - now) / 1000)) }
end
local nextTat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', nextTat), 'PX', math.ceil((nextTat - now) / 1000))
return { 'allowed' }
`,
  },
} as const satisfies Record<string, RedisScript>
