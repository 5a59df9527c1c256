/**
 * The settlement store (src/settlement/store.ts) in Redis, beside the ledger and on its
 * connection: shared by every gateway and settler instance on one ledger.
 *
 * It shares the ledger's Redis layer rather than having its own: keys from keys.ts (lock, fence,
 * intent, intents, watcher cursor; documented in docs/DESIGN.md "Redis key schema"), scripts run
 * by the one script runner (settlement-scripts.ts: SCRIPT LOAD, EVALSHA, reload on NOSCRIPT), and
 * every failure mapped by `ledgerFailure` (errors.ts). So a Redis outage reads the same here as
 * on a charge — `ledger-unavailable` (503, `Retry-After: 1`) — whether a cooperative close, the
 * settler or the close watcher met it, and a defect stays a plain `Error`.
 *
 * Acquire, release, save-intent and clear-intent are Lua scripts, so "is this still my lease?"
 * and the write are one atomic step (a stale holder cannot write after its lease was taken over).
 * The `intents` sets (sixteen buckets, keys.ts) are updated right after the script but outside it
 * (another slot); the settler treats them as a hint and the per-channel intent hash as the truth.
 */
import type { Hex } from 'viem'
import type {
  IntentKind,
  Lease,
  SettlementIntent,
  SettlementStore,
} from '../../settlement/store.js'
import type { RedisClient } from './connection.js'
import { ledgerFailure, redisCall } from './errors.js'
import { redisKeys } from './keys.js'
import { amountArg, channelKeyId, hexArg, integerArg } from './record.js'
import { decodeAcquireReply, decodeOutcome } from './replies.js'
import { createScriptRunner, type ScriptCall } from './script-runner.js'

export type RedisSettlementStoreOptions = {
  /** The ledger's connection (`RedisLedger.client`): its options are the ones money needs. */
  readonly client: RedisClient
  /** The ledger's key prefix. */
  readonly keyPrefix: string
}

/** The intent hash's fields, written by `saveIntent` and read back by `intent`. */
type IntentFields = Readonly<Record<keyof SettlementIntent, string>>

function encodeIntent(intent: SettlementIntent): string[] {
  const fields: IntentFields = {
    channelId: channelKeyId(intent.channelId),
    kind: intent.kind,
    cumulative: amountArg(intent.cumulative, 'intent cumulative'),
    capture: intent.capture === undefined ? '' : amountArg(intent.capture, 'intent capture'),
    txHash: hexArg(intent.txHash, 'intent txHash'),
    rawTransaction: hexArg(intent.rawTransaction, 'intent rawTransaction'),
    validBefore: integerArg(intent.validBefore, 'intent validBefore'),
    fence: integerArg(intent.fence, 'intent fence'),
    createdAt: integerArg(intent.createdAt, 'intent createdAt'),
  }
  return Object.entries(fields).flat()
}

const intentKinds: readonly IntentKind[] = ['settle', 'close']

/** The intent in a hash read with HGETALL; undefined for an absent (empty) hash. */
function decodeIntent(hash: Readonly<Record<string, string>>): SettlementIntent | undefined {
  if (hash.txHash === undefined) return undefined
  const text = (name: keyof SettlementIntent): string => {
    const value = hash[name]
    if (value === undefined) throw new Error(`settlement store: intent lacks field ${name}`)
    return value
  }
  const kind = intentKinds.find((k) => k === text('kind'))
  if (!kind) throw new Error(`settlement store: unknown intent kind ${text('kind')}`)
  const capture = text('capture')
  return {
    channelId: text('channelId') as Hex,
    kind,
    cumulative: BigInt(text('cumulative')),
    capture: capture === '' ? undefined : BigInt(capture),
    txHash: text('txHash') as Hex,
    rawTransaction: text('rawTransaction') as Hex,
    validBefore: Number(text('validBefore')),
    fence: Number(text('fence')),
    createdAt: Number(text('createdAt')),
  }
}

export function createRedisSettlementStore(options: RedisSettlementStoreOptions): SettlementStore {
  const { client } = options
  const keys = redisKeys(options.keyPrefix)
  const scripts = createScriptRunner(client)
  const token = (lease: Lease) => `${lease.owner}|${lease.fence}`

  /** Runs a script; a failure of the script or of its follow-up rejects via `ledgerFailure`. */
  const run = async (call: ScriptCall): Promise<unknown> => {
    const outcome = await redisCall(call.name, () => scripts.run(call))
    if (outcome.followUpError) throw ledgerFailure(outcome.followUpError, call.name)
    return outcome.reply
  }

  return {
    async acquire(channelId, owner, ttlMs) {
      const id = channelKeyId(channelId)
      const reply = await run({
        name: 'acquireLock',
        keys: [keys.lock(id), keys.fence(id), keys.channel(id)],
        args: [owner, integerArg(ttlMs, 'lock ttlMs')],
      })
      const outcome = decodeAcquireReply(reply)
      return outcome.kind === 'acquired' ? { channelId, owner, fence: outcome.fence } : undefined
    },

    async release(lease) {
      const reply = await run({
        name: 'releaseLock',
        keys: [keys.lock(channelKeyId(lease.channelId))],
        args: [token(lease)],
      })
      // A lease that lapsed or was taken over releases nothing: that is not a failure.
      decodeOutcome(reply, 'releaseLock', ['released', 'not-held'])
    },

    /**
     * Why the `SADD` of the intents hint makes the call fail when it fails: the caller broadcasts
     * only after `saveIntent` resolved, so a transaction on chain always has its hint. An intent
     * saved without its hint is harmless: nothing was sent, and reconciliation (the channel's own
     * intent hash) broadcasts those same bytes or drops them once they expired.
     */
    async saveIntent(lease, intent) {
      const id = channelKeyId(lease.channelId)
      const reply = await run({
        name: 'saveIntent',
        keys: [keys.lock(id), keys.intent(id)],
        args: [token(lease), ...encodeIntent(intent)],
        then: ['sadd', keys.intents(id), id],
      })
      return decodeOutcome(reply, 'saveIntent', ['saved', 'lost-lease']) === 'saved'
    },

    async intent(channelId) {
      const id = channelKeyId(channelId)
      return decodeIntent(await redisCall('intent', () => client.hgetall(keys.intent(id))))
    },

    async pendingIntents() {
      const buckets = await redisCall('pendingIntents', () =>
        Promise.all(keys.intentsBuckets.map((key) => client.smembers(key))),
      )
      const ids = buckets.flat() as Hex[]
      if (ids.length === 0) return []
      // One command per intent hash, not a pipeline: on a Cluster each lives on its own slot.
      const exists = await redisCall('pendingIntents', () =>
        Promise.all(ids.map((id) => client.exists(keys.intent(id)))),
      )
      // Drop hints whose intent is gone (recorded by another instance).
      const stale = ids.filter((_, i) => exists[i] === 0)
      if (stale.length > 0) {
        await redisCall('pendingIntents', () =>
          Promise.all(stale.map((id) => client.srem(keys.intents(id), id))),
        )
      }
      return ids.filter((_, i) => exists[i] !== 0)
    },

    async clearIntent(channelId, txHash) {
      const id = channelKeyId(channelId)
      const reply = await run({
        name: 'clearIntent',
        keys: [keys.intent(id)],
        args: [hexArg(txHash, 'txHash')],
      })
      if (decodeOutcome(reply, 'clearIntent', ['cleared', 'other']) === 'cleared') {
        await redisCall('clearIntent', () => client.srem(keys.intents(id), id))
      }
    },

    async cursor() {
      const value = await redisCall('cursor', () => client.get(keys.watcherCursor))
      return value === null ? undefined : BigInt(value)
    },

    async setCursor(block) {
      await redisCall('setCursor', () => client.set(keys.watcherCursor, block.toString()))
    },

    /** The connection is the ledger's: the ledger closes it. */
    async close() {},
  }
}
