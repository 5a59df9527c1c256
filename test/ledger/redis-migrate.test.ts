/**
 * `mpp-gateway migrate-keys` on a real Redis: a ledger written under the earlier key layout
 * (`<prefix>ch:{<id>}`, one `<prefix>unsettled` and one `<prefix>intents` key, …) is refused at
 * start, moved, then read exactly as it was written; a second run moves nothing; a name taken on
 * both sides is reported and neither key is touched.
 */
import { Redis } from 'ioredis'
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisKeys } from '../../src/ledger/redis/keys.js'
import { createRedisLedger } from '../../src/ledger/redis/ledger.js'
import { currentNameOf, migrateLegacyKeys } from '../../src/ledger/redis/migrate.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { newChannel, voucher } from './contract.js'

const prefix = 'migrate-test:'
const keys = redisKeys(prefix)
const t0 = 1_700_000_000_000

/** The earlier layout's name of each current key, as that version wrote it. */
function earlierNameOf(key: string): string {
  const channel = /^\{migrate-test:(0x[0-9a-f]{64})\}:(ch|res|lock|fence|intent)$/.exec(key)
  if (channel) {
    const [, id, kind] = channel
    return kind === 'res' ? `${prefix}ch:{${id}}:res` : `${prefix}${kind}:{${id}}`
  }
  const payer = /^\{migrate-test:payer:(.+)\}$/.exec(key)
  if (payer) return `${prefix}payer:{${payer[1]}}`
  if (key === keys.watcherCursor) return `${prefix}watcher:cursor`
  throw new Error(`no earlier name for ${key}`)
}

describe('redis ledger: moving from the earlier key layout', () => {
  let server: RedisServer
  let client: Redis

  beforeAll(async () => {
    server = await startRedisServer()
    client = new Redis(server.url)
  })
  afterAll(async () => {
    client.disconnect()
    await server.stop()
  })

  it('names every key of the earlier layout, and no other key', () => {
    const id: Hex = `0x${'ab'.repeat(32)}`
    expect(currentNameOf(prefix, `${prefix}ch:{${id}}`)).toBe(keys.channel(id))
    expect(currentNameOf(prefix, `${prefix}ch:{${id}}:res`)).toBe(keys.reservations(id))
    expect(currentNameOf(prefix, `${prefix}lock:{${id}}`)).toBe(keys.lock(id))
    expect(currentNameOf(prefix, `${prefix}fence:{${id}}`)).toBe(keys.fence(id))
    expect(currentNameOf(prefix, `${prefix}intent:{${id}}`)).toBe(keys.intent(id))
    expect(currentNameOf(prefix, `${prefix}payer:{0xpayer}`)).toBe(keys.payer('0xpayer'))
    expect(currentNameOf(prefix, `${prefix}watcher:cursor`)).toBe(keys.watcherCursor)
    for (const other of [
      keys.channel(id),
      `${prefix}lock:{${id}}:res`,
      `${prefix}ch:{0x12}`,
      `other:ch:{${id}}`,
      `${prefix}unsettled`,
    ]) {
      expect(currentNameOf(prefix, other)).toBeUndefined()
    }
  })

  it('moves a ledger of the earlier layout so it reads exactly as written; a second run moves nothing', async () => {
    // A ledger with charged, uncharged and reserved channels, a payer set, a lock and a cursor.
    const ledger = await createRedisLedger({ url: server.url, keyPrefix: prefix })
    const channels = [newChannel(), newChannel(), newChannel()]
    for (const channel of channels) await ledger.open(channel, t0)
    const [a, b, c] = channels.map((channel) => channel.channelId) as [Hex, Hex, Hex]
    for (const [id, cumulative, mode] of [
      [a, 30n, 'commit'],
      [b, 20n, 'reserve'],
    ] as const) {
      const result = await ledger.authorize({
        channelId: id,
        voucher: voucher(cumulative),
        amount: 10n,
        mode,
        ...(mode === 'reserve' ? { reservationId: 'r1', expiresAt: t0 + 3_600_000 } : {}),
        minDelta: 0n,
        now: t0 + 1,
      })
      expect(result.kind).toBe('authorized')
    }
    await client.set(keys.lock(c), 'owner|1', 'PX', 600_000)
    await client.set(keys.watcherCursor, '42')
    await client.sadd(keys.intents(a), a)
    const records = await Promise.all(channels.map((ch) => ledger.get(ch.channelId)))
    const unsettled = await ledger.listUnsettled(100)
    await ledger.close()

    // Rename every key to its earlier name; merge the buckets into the two earlier index keys.
    const current = (await client.keys(`{${prefix}*`)).sort()
    let earlierCount = 0
    for (const key of current) {
      const bucket = /^\{migrate-test:(unsettled|intents):\d+\}$/.exec(key)
      if (bucket) {
        const target = `${prefix}${bucket[1]}`
        if (bucket[1] === 'unsettled') {
          const scored = await client.zrange(key, 0, -1, 'WITHSCORES')
          for (let i = 0; i < scored.length; i += 2) {
            await client.zadd(target, scored[i + 1]!, scored[i]!)
          }
        } else {
          await client.sadd(target, ...(await client.smembers(key)))
        }
        await client.del(key)
        continue
      }
      await client.rename(key, earlierNameOf(key))
      earlierCount += 1
    }
    const lockTtl = await client.pttl(`${prefix}lock:{${c}}`)
    expect(lockTtl).toBeGreaterThan(0)
    await expect(createRedisLedger({ url: server.url, keyPrefix: prefix })).rejects.toThrow(
      /earlier layout/,
    )

    const report = await migrateLegacyKeys(client, prefix)
    expect(report).toEqual({ moved: earlierCount, indexed: unsettled.length + 1, conflicts: [] })
    expect(await client.keys(`${prefix}*`)).toEqual([])
    expect(await client.pttl(keys.lock(c))).toBeGreaterThan(lockTtl - 60_000)
    expect(await client.get(keys.watcherCursor)).toBe('42')
    expect(await client.sismember(keys.intents(a), a)).toBe(1)

    const moved = await createRedisLedger({ url: server.url, keyPrefix: prefix })
    try {
      expect(await Promise.all(channels.map((ch) => moved.get(ch.channelId)))).toEqual(records)
      expect(await moved.listUnsettled(100)).toEqual(unsettled)
      expect(records[1]!.reserved).toBe(10n)
    } finally {
      await moved.close()
    }
    expect(await migrateLegacyKeys(client, prefix)).toEqual({
      moved: 0,
      indexed: 0,
      conflicts: [],
    })
  })

  it('leaves both keys alone when the current name is already taken', async () => {
    const id: Hex = `0x${'cd'.repeat(32)}`
    await client.hset(`${prefix}ch:{${id}}`, 'spent', '5')
    await client.hset(keys.channel(id), 'spent', '7')
    const report = await migrateLegacyKeys(client, prefix)
    expect(report.conflicts).toEqual([`${prefix}ch:{${id}}`])
    expect(report.moved).toBe(0)
    expect(await client.hget(`${prefix}ch:{${id}}`, 'spent')).toBe('5')
    expect(await client.hget(keys.channel(id), 'spent')).toBe('7')
  })
})
