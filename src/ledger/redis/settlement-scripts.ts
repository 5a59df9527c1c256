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
 * KEYS: lock, fence. ARGV: owner, ttlMs.
 * Reply: {'acquired', fence} | {'held'}. The owner may take its own lock again (a new fence).
 */
const acquireLock = script(
  2,
  String.raw`
local current = redis.call('GET', KEYS[1])
if current then
  local owner = string.match(current, '^(.*)|%d+$')
  if owner ~= ARGV[1] then return { 'held' } end
end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. fence, 'PX', ARGV[2])
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
