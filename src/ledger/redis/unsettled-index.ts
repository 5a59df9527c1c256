/**
 * Queries over many channels for the settler and the close watcher (the port's `ChannelIndex`),
 * built on the unsettled index — sixteen sorted sets `{<prefix>unsettled:<b>}`, a channel in the
 * bucket its id picks (keys.ts) — and on `SCAN` over the channel hashes of every primary.
 *
 * Nothing here sends a command that names keys of two slots, nor a pipeline across slots: on a
 * Cluster those would be refused (or go to one node). Commands over many channels are sent
 * together without awaiting one another; ioredis writes them back to back, so on one server they
 * still share a round trip, and on a Cluster each goes to its own node.
 *
 * The unsettled index is a hint kept beside the channel hashes, on other cluster slots, so no
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
import type { Hex } from 'viem'
import type { ChannelIndex } from '../port.js'
import { primariesOf, type RedisClient } from './connection.js'
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

type Entry = { readonly id: Hex; readonly since: number }

export function createRedisChannelIndex(options: {
  readonly client: RedisClient
  readonly keys: RedisKeys
}): RedisChannelIndex {
  const { client, keys } = options

  /** Each channel's `unsettledSince` and `status`. */
  const states = (ids: readonly Hex[]) =>
    Promise.all(ids.map((id) => client.hmget(keys.channel(id), 'unsettledSince', 'status')))

  /**
   * The `limit` oldest entries over every bucket: each bucket's `limit` oldest, merged. Ties are
   * broken by id, so the order does not depend on which bucket answered first.
   */
  const oldest = async (limit: number): Promise<Entry[]> => {
    const buckets = await Promise.all(
      keys.unsettledBuckets.map((key) => client.zrange(key, 0, limit - 1, 'WITHSCORES')),
    )
    const entries: Entry[] = []
    for (const flat of buckets) {
      for (let i = 0; i + 1 < flat.length; i += 2) {
        entries.push({ id: flat[i] as Hex, since: Number(flat[i + 1]) })
      }
    }
    entries.sort((a, b) => a.since - b.since || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    return entries.slice(0, limit)
  }

  /**
   * Race-free removal without a cross-slot script: ZREM first, then read the hash. A charge sets
   * `unsettledSince` before its own ZADD, so either that ZADD comes after our ZREM, or the hash
   * read here already shows it and the entry is put back.
   */
  const pruneAll = async (ids: readonly Hex[]): Promise<Map<Hex, 'removed' | 'kept'>> => {
    const outcome = new Map<Hex, 'removed' | 'kept'>()
    if (ids.length === 0) return outcome
    await Promise.all(ids.map((id) => client.zrem(keys.unsettled(id), id)))
    const read = await states(ids)
    const restoring: Promise<unknown>[] = []
    ids.forEach((id, i) => {
      const [since, status] = read[i] ?? []
      if (since != null && status !== 'finalized') {
        restoring.push(client.zadd(keys.unsettled(id), 'NX', since, id))
        outcome.set(id, 'kept')
      } else {
        outcome.set(id, 'removed')
      }
    })
    await Promise.all(restoring)
    return outcome
  }

  /**
   * One primary's channel hashes, `SCAN` batch by batch: collects live ones into `found` (up to
   * `limit`) and re-adds the index and payer entries a crash lost.
   */
  const scanPrimary = async (
    node: ReturnType<typeof primariesOf>[number],
    found: Set<Hex>,
    limit: number,
  ) => {
    let cursor = '0'
    do {
      const [next, batch] = await node.scan(
        cursor,
        'MATCH',
        keys.channelPattern,
        'COUNT',
        scanBatch,
      )
      cursor = next
      const ids = batch
        .map((key) => keys.channelIdOf(key))
        .filter((id): id is Hex => id !== undefined)
      if (ids.length === 0) continue
      const read = await Promise.all(
        ids.map((id) => client.hmget(keys.channel(id), 'status', 'unsettledSince', 'payer')),
      )
      const repairing: Promise<unknown>[] = []
      ids.forEach((id, i) => {
        const [status, since, payer] = read[i] ?? []
        if (status == null || status === 'finalized') return
        if (found.size < limit) found.add(id)
        // Re-adds an entry a crash lost; NX keeps an existing entry's first time.
        if (since != null) repairing.push(client.zadd(keys.unsettled(id), 'NX', since, id))
        // Likewise the payer's set (payers.ts); adding an existing member changes nothing.
        if (payer != null) repairing.push(client.sadd(keys.payer(payer), id))
      })
      await Promise.all(repairing)
    } while (cursor !== '0' && found.size < limit)
  }

  return {
    async listUnsettled(limit) {
      positive(limit)
      return redisCall('listUnsettled', async () => (await oldest(limit)).map(({ id }) => id))
    },

    async prune(channelId) {
      const id = channelKeyId(channelId)
      return redisCall('pruneUnsettled', async () => (await pruneAll([id])).get(id) ?? 'removed')
    },

    async unsettled(limit) {
      positive(limit)
      return redisCall('index.unsettled', async () => {
        const ids = (await oldest(limit)).map(({ id }) => id)
        if (ids.length === 0) return []
        const read = await states(ids)
        const due: { channelId: Hex; since: number | undefined }[] = []
        const stale: Hex[] = []
        ids.forEach((id, i) => {
          const [since, status] = read[i] ?? []
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
        for (const node of primariesOf(client)) {
          if (found.size >= limit) break
          await scanPrimary(node, found, limit)
        }
        return [...found]
      })
    },
  }
}
