/**
 * Queries over many channels for the settler and the close watcher (the port's `ChannelIndex`),
 * built on the unsettled index `<prefix>unsettled` and on `SCAN` over the channel hashes.
 *
 * The unsettled index is a hint kept beside the channel hashes, on another cluster slot, so no
 * script can update it atomically with a charge. What makes it dependable:
 *  - a charge records `unsettledSince` in the channel hash (atomically, in the script) BEFORE the
 *    ledger adds the index entry (`ZADD NX`, a follow-up command): so the hash is the truth and
 *    the entry can lag, never lead;
 *  - `unsettled()` reads each listed channel's hash and returns only channels that are unsettled
 *    and not finalized; entries that are not are pruned race-free (`prune`);
 *  - `open()` scans every channel hash and re-adds any unsettled channel whose entry a crash lost
 *    (between the script and its `ZADD`), and every open channel to its payer's set
 *    (redis-payers.ts). The close watcher runs it periodically, so a lost entry is repaired within
 *    one reconciliation interval.
 */
import type { Redis } from 'ioredis'
import type { Hex } from 'viem'
import type { ChannelIndex } from '../port.js'
import { pipelineReplies } from './connection.js'
import { redisCall } from './errors.js'
import type { RedisKeys } from './keys.js'
import { channelKeyId } from './record.js'

/** The index operations of the Redis ledger. */
export type RedisChannelIndex = ChannelIndex & {
  /** Up to `limit` ids from the unsettled index as stored, longest-unsettled first (a hint). */
  listUnsettled(limit: number): Promise<Hex[]>
  /** Drops a channel's entry unless its hash says it is unsettled (then the entry stays). */
  prune(channelId: Hex): Promise<'removed' | 'kept'>
}

const scanBatch = 500

const positive = (limit: number) => {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError('ledger: limit must be a positive integer')
  }
}

/** The channel id inside `<prefix>ch:{<id>}`. */
const idOfKey = (key: string): Hex | undefined => /\{(0x[0-9a-f]{64})\}$/.exec(key)?.[1] as Hex

export function createRedisChannelIndex(options: {
  readonly client: Redis
  readonly keys: RedisKeys
}): RedisChannelIndex {
  const { client, keys } = options

  /**
   * Race-free removal without a cross-slot script: ZREM first, then read the hash. A charge sets
   * `unsettledSince` before its own ZADD, so either that ZADD comes after our ZREM, or the hash
   * read here already shows it and the entry is put back.
   */
  const pruneAll = async (ids: readonly Hex[]): Promise<Map<Hex, 'removed' | 'kept'>> => {
    const outcome = new Map<Hex, 'removed' | 'kept'>()
    if (ids.length === 0) return outcome
    const removing = client.pipeline()
    for (const id of ids) removing.zrem(keys.unsettled, id)
    await pipelineReplies(removing)
    const reading = client.pipeline()
    for (const id of ids) reading.hmget(keys.channel(id), 'unsettledSince', 'status')
    const states = (await pipelineReplies(reading)) as (string | null)[][]
    const restoring = client.pipeline()
    ids.forEach((id, i) => {
      const [since, status] = states[i] ?? []
      if (since != null && status !== 'finalized') {
        restoring.zadd(keys.unsettled, 'NX', since, id)
        outcome.set(id, 'kept')
      } else {
        outcome.set(id, 'removed')
      }
    })
    if (restoring.length > 0) await pipelineReplies(restoring)
    return outcome
  }

  return {
    async listUnsettled(limit) {
      positive(limit)
      return redisCall(
        'listUnsettled',
        async () => (await client.zrange(keys.unsettled, 0, limit - 1)) as Hex[],
      )
    },

    async prune(channelId) {
      const id = channelKeyId(channelId)
      return redisCall('pruneUnsettled', async () => (await pruneAll([id])).get(id) ?? 'removed')
    },

    async unsettled(limit) {
      positive(limit)
      return redisCall('index.unsettled', async () => {
        const ids = (await client.zrange(keys.unsettled, 0, limit - 1)) as Hex[]
        if (ids.length === 0) return []
        const reading = client.pipeline()
        for (const id of ids) reading.hmget(keys.channel(id), 'unsettledSince', 'status')
        const states = (await pipelineReplies(reading)) as (string | null)[][]
        const due: { channelId: Hex; since: number | undefined }[] = []
        const stale: Hex[] = []
        ids.forEach((id, i) => {
          const [since, status] = states[i] ?? []
          if (since != null && status !== 'finalized')
            due.push({ channelId: id, since: Number(since) })
          else stale.push(id)
        })
        await pruneAll(stale)
        return due
      })
    },

    async open(limit) {
      positive(limit)
      return redisCall('index.open', async () => {
        const found = new Set<Hex>()
        let cursor = '0'
        do {
          const [next, batch] = await client.scan(
            cursor,
            'MATCH',
            keys.channelPattern,
            'COUNT',
            scanBatch,
          )
          cursor = next
          const ids = batch.map(idOfKey).filter((id): id is Hex => id !== undefined)
          if (ids.length === 0) continue
          const reading = client.pipeline()
          for (const id of ids) reading.hmget(keys.channel(id), 'status', 'unsettledSince', 'payer')
          const states = (await pipelineReplies(reading)) as (string | null)[][]
          const repairing = client.pipeline()
          ids.forEach((id, i) => {
            const [status, since, payer] = states[i] ?? []
            if (status == null || status === 'finalized') return
            if (found.size < limit) found.add(id)
            // Re-adds an entry a crash lost; NX keeps an existing entry's first time.
            if (since != null) repairing.zadd(keys.unsettled, 'NX', since, id)
            // Likewise the payer's set (redis-payers.ts); adding an existing member changes nothing.
            if (payer != null) repairing.sadd(keys.payer(payer), id)
          })
          if (repairing.length > 0) await pipelineReplies(repairing)
        } while (cursor !== '0' && found.size < limit)
        return [...found]
      })
    },
  }
}
