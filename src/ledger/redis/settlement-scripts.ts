/**
 * The settlement store's Lua scripts: taking and giving back a channel's settlement lock, and
 * writing and clearing its intent. Each makes "is this still my lease?" and the write one atomic
 * step, so a holder whose lease lapsed (and was taken over) can no longer write.
 *
 * Like the ledger's scripts (scripts.ts) they run through the one script runner
 * (script-runner.ts), start with the `#!lua` shebang (refused up front when Redis is out of
 * memory), touch only keys of one channel (one hash tag, one Cluster slot: keys.ts), and reply
 * with the outcome kind first, decoded by replies.ts.
 *
 * The lock value is `"<owner>|<fence>"`; the fence is the channel's counter, incremented on every
 * acquisition, so a lease taken over always carries a larger number than the one it replaced.
 */
import type { RedisScript } from './scripts.js'

const script = (keys: number, body: string): RedisScript => ({ source: `#!lua\n${body}`, keys })

/**
 * KEYS: lock, fence, channel hash. ARGV: owner, ttlMs.
 * Reply: {'acquired', fence} | {'held'}. The owner may take its own lock again (a new fence).
 *
 * The fence lives as long as its channel: no TTL while the channel is live, the finalized
 * channel's lifetime once it is finalized (the ledger's finalize sets it, scripts.ts). `INCR`
 * keeps a key's TTL, so a lease taken on a finalized channel (reconciling a late intent) or on
 * one whose hash is gone makes sure here that the fence outlives this lease by a margin — a
 * fence that expired while a lease was alive would start again at 1, and a later lease could
 * carry a number an earlier one still holds.
 */
const acquireLock = script(
  3,
  String.raw`
local current = redis.call('GET', KEYS[1])
if current then
  local owner = string.match(current, '^(.*)|%d+$')
  if owner ~= ARGV[1] then return { 'held' } end
end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. fence, 'PX', ARGV[2])
local status = redis.call('HGET', KEYS[3], 'status')
if status == false or status == 'finalized' then
  local channelTtl = redis.call('PTTL', KEYS[3])
  if not (status == 'finalized' and channelTtl == -1) then
    local keep = tonumber(ARGV[2]) + 60000
    if channelTtl > keep then keep = channelTtl end
    local fenceTtl = redis.call('PTTL', KEYS[2])
    if fenceTtl < keep then redis.call('PEXPIRE', KEYS[2], keep) end
  end
end
return { 'acquired', tostring(fence) }
`,
)

/** KEYS: lock. ARGV: "<owner>|<fence>". Reply: {'released'} | {'not-held'}. */
const releaseLock = script(
  1,
  String.raw`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return { 'released' }
end
return { 'not-held' }
`,
)

/**
 * KEYS: lock, intent. ARGV: "<owner>|<fence>", then the intent's field/value pairs.
 * Reply: {'saved'} | {'lost-lease'}. The intent replaces any earlier one of the channel.
 */
const saveIntent = script(
  2,
  String.raw`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return { 'lost-lease' } end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
return { 'saved' }
`,
)

/** KEYS: intent. ARGV: txHash. Reply: {'cleared'} | {'other'} (absent, or another transaction's). */
const clearIntent = script(
  1,
  String.raw`
if redis.call('HGET', KEYS[1], 'txHash') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return { 'cleared' }
end
return { 'other' }
`,
)

/** Every settlement-store script by name. */
export const settlementScripts = { acquireLock, releaseLock, saveIntent, clearIntent } as const
