/**
 * The settlement store in Redis: shared by every gateway and settler instance on one ledger.
 *
 * Keys (next to the ledger's, same prefix; each channel's keys share a hash tag, so scripts stay
 * on one Cluster slot):
 *   <prefix>lock:{<channelId>}    "owner|fence", with a PX time-to-live   — the channel's lock
 *   <prefix>fence:{<channelId>}   counter                                 — fencing numbers
 *   <prefix>intent:{<channelId>}  hash of the pending transaction         — until recorded
 *   <prefix>intents               set of channel ids with an intent       — a hint for restarts
 *   <prefix>watcher:cursor        last block the close watcher processed
 *
 * Acquire, release, save-intent and clear-intent are Lua scripts, so "is this still my lease?"
 * and the write are one atomic step (a stale holder cannot write after its lease was taken over).
 * The `intents` set is updated in the same round trip but outside the script (another slot); the
 * settler treats it as a hint and the per-channel intent hash as the truth.
 */
import type { ChainableCommander, Redis } from 'ioredis'
import type { Hex } from 'viem'
import type { Lease, SettlementIntent, SettlementStore } from '../../settlement/store.js'

const acquireScript = `
local current = redis.call('GET', KEYS[1])
if current then
  local owner = string.match(current, '^(.*)|%d+$')
  if owner ~= ARGV[1] then return false end
end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. fence, 'PX', ARGV[2])
return fence
`

const releaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

const saveIntentScript = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
return 1
`

const clearIntentScript = `
if redis.call('HGET', KEYS[1], 'txHash') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

type Scripted = Redis & {
  settleAcquire(lock: string, fence: string, owner: string, ttl: number): Promise<number | null>
  settleRelease(lock: string, token: string): Promise<number>
  settleSaveIntent(
    lock: string,
    intent: string,
    token: string,
    ...fields: string[]
  ): Promise<number>
  settleClearIntent(intent: string, txHash: string): Promise<number>
}

function define(client: Redis): Scripted {
  const scripted = client as Scripted
  if (typeof scripted.settleAcquire !== 'function') {
    // ioredis calls scripts by SHA and reloads them transparently on NOSCRIPT.
    client.defineCommand('settleAcquire', { numberOfKeys: 2, lua: acquireScript })
    client.defineCommand('settleRelease', { numberOfKeys: 1, lua: releaseScript })
    client.defineCommand('settleSaveIntent', { numberOfKeys: 2, lua: saveIntentScript })
    client.defineCommand('settleClearIntent', { numberOfKeys: 1, lua: clearIntentScript })
  }
  return scripted
}

export function createRedisSettlementStore(options: {
  client: Redis
  keyPrefix: string
}): SettlementStore {
  const redis = define(options.client)
  const p = options.keyPrefix
  const id = (channelId: Hex) => channelId.toLowerCase()
  const lockKey = (channelId: Hex) => `${p}lock:{${id(channelId)}}`
  const fenceKey = (channelId: Hex) => `${p}fence:{${id(channelId)}}`
  const intentKey = (channelId: Hex) => `${p}intent:{${id(channelId)}}`
  const intentsKey = `${p}intents`
  const cursorKey = `${p}watcher:cursor`
  const token = (lease: Lease) => `${lease.owner}|${lease.fence}`

  return {
    async acquire(channelId, owner, ttlMs) {
      const fence = await redis.settleAcquire(lockKey(channelId), fenceKey(channelId), owner, ttlMs)
      return fence === null ? undefined : { channelId, owner, fence: Number(fence) }
    },
    async release(lease) {
      await redis.settleRelease(lockKey(lease.channelId), token(lease))
    },
    async saveIntent(lease, intent) {
      const fields = [
        'channelId',
        id(intent.channelId),
        'kind',
        intent.kind,
        'cumulative',
        intent.cumulative.toString(),
        'capture',
        intent.capture?.toString() ?? '',
        'txHash',
        intent.txHash,
        'rawTransaction',
        intent.rawTransaction,
        'validBefore',
        String(intent.validBefore),
        'fence',
        String(intent.fence),
        'createdAt',
        String(intent.createdAt),
      ]
      type WithScript = ChainableCommander & {
        settleSaveIntent(...args: string[]): ChainableCommander
      }
      const pipeline = redis.pipeline() as WithScript
      pipeline.settleSaveIntent(
        lockKey(lease.channelId),
        intentKey(lease.channelId),
        token(lease),
        ...fields,
      )
      pipeline.sadd(intentsKey, id(lease.channelId))
      const [[saveError, saved]] = (await pipeline.exec()) as [
        [Error | null, number],
        [Error | null, number],
      ]
      if (saveError) throw saveError
      return saved === 1
    },
    async intent(channelId) {
      const h = await redis.hgetall(intentKey(channelId))
      if (!h.txHash) return undefined
      const intent: SettlementIntent = {
        channelId: h.channelId as Hex,
        kind: h.kind === 'close' ? 'close' : 'settle',
        cumulative: BigInt(h.cumulative ?? '0'),
        capture: h.capture ? BigInt(h.capture) : undefined,
        txHash: h.txHash as Hex,
        rawTransaction: h.rawTransaction as Hex,
        validBefore: Number(h.validBefore),
        fence: Number(h.fence),
        createdAt: Number(h.createdAt),
      }
      return intent
    },
    async pendingIntents() {
      const ids = (await redis.smembers(intentsKey)) as Hex[]
      // Drop hints whose intent is gone (recorded by another instance).
      const pipeline = redis.pipeline()
      for (const channelId of ids) pipeline.exists(intentKey(channelId))
      const exists = (await pipeline.exec()) ?? []
      const stale = ids.filter((_, i) => exists[i]?.[1] === 0)
      if (stale.length > 0) await redis.srem(intentsKey, ...stale)
      return ids.filter((_, i) => exists[i]?.[1] !== 0)
    },
    async clearIntent(channelId, txHash) {
      const cleared = await redis.settleClearIntent(intentKey(channelId), txHash)
      if (cleared === 1) await redis.srem(intentsKey, id(channelId))
    },
    async cursor() {
      const value = await redis.get(cursorKey)
      return value === null ? undefined : BigInt(value)
    },
    async setCursor(block) {
      await redis.set(cursorKey, block.toString())
    },
    async close() {},
  }
}
