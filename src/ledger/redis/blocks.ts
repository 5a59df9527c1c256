/**
 * The operator's blocked payers on Redis: one hash, `{<prefix>blocked}`, lower-cased payer address →
 * `{"since":<ms>,"reason":<text|null>}`, shared by every instance on the same Redis.
 *
 * Why one hash beside the channels rather than a field in each channel: a block must also stop
 * channels that do not exist yet (a blocked payer's next `open`), and a payer's channels live on
 * many cluster slots.
 *
 * Why the request path reads a copy, not Redis: the hash is one key, so one slot on one node. Read
 * on every voucher it would be the hot key of the whole ledger, and on a Redis Cluster every
 * channel's payments would depend on the node that holds it (a failover there would refuse paid
 * requests on every primary). Each instance keeps the whole hash in memory, read again every
 * `refreshMs` (one `HGETALL` per instance, not per request). A block made through this instance
 * holds here at once; on the other instances within `refreshMs`. A failed refresh keeps the copy
 * it has: blocks are the operator's control over who may pay, not money, and the ledger refuses
 * paid requests on its own while Redis is down.
 *
 * `block` is `HSETNX` (pipelined with the `HGET` that reads what is in force): a claim, so two
 * operators blocking at once record one block and both learn which one is in force. The hash grows
 * only by operator action and shrinks by `unblock`.
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
  /** How often the in-memory copy is read again (default 1 s). */
  readonly refreshMs?: number
}): PayerBlocks & { stop(): void } {
  const { client } = options
  const key = options.keys.blocked
  let copy = new Map<string, PayerBlock>()
  const readAll = async () =>
    Object.entries(await redisCall('blocked', () => client.hgetall(key))).map(([payer, text]) =>
      decode(payer, text),
    )
  const refresh = async () => {
    copy = new Map((await readAll()).map((block) => [block.payer, block]))
  }
  // The first request waits for the first read; later ones never wait on Redis.
  const loaded = refresh().catch(() => undefined)
  const timer = setInterval(() => {
    refresh().catch(() => undefined)
  }, options.refreshMs ?? 1_000)
  timer.unref()
  return {
    stop: () => clearInterval(timer),
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
      copy.set(field, block)
      return { kind: created === 1 ? 'blocked' : 'already', block }
    },

    async unblock(payer) {
      const field = payer.toLowerCase()
      const removed = (await redisCall('unblock', () => client.hdel(key, field))) === 1
      copy.delete(field)
      return removed
    },

    async get(payer) {
      await loaded
      return copy.get(payer.toLowerCase())
    },

    async list(limit) {
      // The operator's view: read from Redis, and the copy brought up to date on the way.
      const all = await readAll()
      copy = new Map(all.map((block) => [block.payer, block]))
      return all.sort(byBlockTime).slice(0, limit)
    },
  }
}
