/**
 * The operator's blocked payers on Redis: one hash, `{<prefix>blocked}`, lower-cased payer address →
 * `{"since":<ms>,"reason":<text|null>}`. Every instance on the same Redis reads the same hash, so
 * a block made through any instance's admin API holds on all of them from its next request on.
 *
 * Why one hash beside the channels rather than a field in each channel: a block must also stop
 * channels that do not exist yet (a blocked payer's next `open`), and a payer's channels live on
 * many cluster slots. The price is one `HGET` per paid request that presents a voucher; the key
 * is never touched by a ledger script.
 *
 * `block` is `HSETNX` (pipelined with the `HGET` that reads what is in force): a claim, so two operators blocking at once record one block and both learn
 * which one is in force. The hash grows only by operator action and shrinks by `unblock`.
 */
import type { RedisClient } from './connection.js'
import type { Address } from 'viem'
import { byBlockTime, type PayerBlock, type PayerBlocks } from '../port.js'
import { redisCall } from './errors.js'
import type { RedisKeys } from './keys.js'

const encode = (entry: { since: number; reason: string | undefined }) =>
  JSON.stringify({ since: entry.since, reason: entry.reason ?? null })

function decode(payer: string, text: string): PayerBlock {
  const parsed = JSON.parse(text) as { since?: unknown; reason?: unknown }
  return {
    payer: payer as Address,
    since: typeof parsed.since === 'number' ? parsed.since : 0,
    reason: typeof parsed.reason === 'string' ? parsed.reason : undefined,
  }
}

export function createRedisPayerBlocks(options: {
  readonly client: RedisClient
  readonly keys: RedisKeys
}): PayerBlocks {
  const { client } = options
  const key = options.keys.blocked
  return {
    async block(payer, entry) {
      const field = payer.toLowerCase()
      // One round trip; an unblock by another client between the two commands leaves no entry
      // to read, and the block just made is reported as made.
      const [created, stored] = await redisCall('block', async () => {
        const replies =
          (await client.pipeline().hsetnx(key, field, encode(entry)).hget(key, field).exec()) ?? []
        return replies.map(([error, reply]) => {
          if (error) throw error
          return reply
        })
      })
      const block =
        typeof stored === 'string'
          ? decode(field, stored)
          : { payer: field as Address, since: entry.since, reason: entry.reason }
      return { kind: created === 1 ? 'blocked' : 'already', block }
    },

    async unblock(payer) {
      return (await redisCall('unblock', () => client.hdel(key, payer.toLowerCase()))) === 1
    },

    async get(payer) {
      const field = payer.toLowerCase()
      const stored = await redisCall('blocked', () => client.hget(key, field))
      return stored === null ? undefined : decode(field, stored)
    },

    async list(limit) {
      const all = await redisCall('blocked', () => client.hgetall(key))
      return Object.entries(all)
        .map(([payer, text]) => decode(payer, text))
        .sort(byBlockTime)
        .slice(0, limit)
    },
  }
}
