/**
 * The payer index of the Redis ledger: per payer address, the set `{<prefix>payer:<payer>}` of the
 * channels it opened. Session recovery reads it to find the open channel of a client that lost
 * its local state (port `channelsOf`).
 *
 * Like the unsettled index it is a hint kept beside the channel hashes, on the payer's own
 * cluster slot, so no ledger script can update it together with a channel. What makes it
 * dependable:
 *  - an `open` adds its channel with `SADD`, pipelined right behind the open script (in the same
 *    round trip, after the hash exists), so a listed id always has a hash unless it expired;
 *  - a finalize drops the id (`SREM`, a follow-up the caller does not wait for); a finalized
 *    channel never opens again, so dropping it is always right;
 *  - `channelsOf` reads every listed hash and prunes ids whose hash is finalized or gone;
 *  - the periodic `index.open()` scan re-adds every open channel (unsettled-index.ts), so an entry a
 *    crash lost between the open script and its `SADD` comes back within one reconciliation.
 * The channel hashes stay the truth: a stale entry costs one read, never money.
 */
import type { Address, Hex } from 'viem'
import { byRecentUse, type ChannelRecord } from '../port.js'
import type { RedisClient } from './connection.js'
import { ledgerFailure } from './errors.js'
import type { RedisKeys } from './keys.js'
import { decodeRecord } from './record.js'

export type RedisPayerIndex = {
  /** The command that records `channelId` under `payer`, to pipeline behind the open script. */
  addCommand(payer: Address, channelId: Hex): readonly [string, ...string[]]
  /** Drops a finalized channel from its payer's set. */
  drop(payer: Address, channelId: Hex): Promise<void>
  /** The port's `channelsOf`: the payer's channels that are not finalized, pruning the rest. */
  channelsOf(payer: Address, limit: number): Promise<ChannelRecord[]>
}

export function createRedisPayerIndex(options: {
  readonly client: RedisClient
  readonly keys: RedisKeys
}): RedisPayerIndex {
  const { client, keys } = options
  return {
    addCommand: (payer, channelId) => ['sadd', keys.payer(payer), channelId],

    async drop(payer, channelId) {
      await client.srem(keys.payer(payer), channelId)
    },

    async channelsOf(payer, limit) {
      if (!Number.isSafeInteger(limit) || limit < 1) {
        throw new RangeError('ledger: limit must be a positive integer')
      }
      try {
        const key = keys.payer(payer)
        const ids = (await client.smembers(key)) as Hex[]
        if (ids.length === 0) return []
        // One command per channel hash, not a pipeline: on a Cluster each lives on its own slot.
        const hashes = await Promise.all(ids.map((id) => client.hgetall(keys.channel(id))))
        const live: ChannelRecord[] = []
        const stale: Hex[] = []
        ids.forEach((id, i) => {
          const hash = hashes[i] ?? {}
          if (Object.keys(hash).length === 0 || hash.status === 'finalized') stale.push(id)
          else live.push(decodeRecord(hash))
        })
        if (stale.length > 0) await client.srem(key, ...stale)
        return live.sort(byRecentUse).slice(0, limit)
      } catch (error) {
        throw ledgerFailure(error, 'channelsOf')
      }
    },
  }
}
