/**
 * One contract for both rate limiters: the memory one and the Lua script on a real Redis give
 * the same verdicts for the same sequence, and the Redis one holds a limit under concurrent
 * takes from several connections (as several gateway instances would).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { redisKeys } from '../../src/ledger/redis/keys.js'
import { gcraOf } from '../../src/limits/gcra.js'
import { createMemoryRateLimiter } from '../../src/limits/memory.js'
import type { RateLimiter } from '../../src/limits/port.js'
import { createRedisRateLimiter } from '../../src/limits/redis.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'

describe('rate limiters', () => {
  let redis: RedisServer
  let connections: RedisLedger[]

  beforeAll(async () => {
    redis = await startRedisServer()
    connections = await Promise.all(
      [1, 2, 3].map(() => createRedisLedger({ url: redis.url, keyPrefix: 'rl:' })),
    )
  })
  afterAll(async () => {
    await Promise.all(connections.map((c) => c.close()))
    await redis.stop()
  })

  const redisLimiter = (index: number): RateLimiter =>
    createRedisRateLimiter({ client: connections[index]!.client, keyPrefix: 'rl:' })

  it('gives the memory verdicts on Redis, step by step', async () => {
    const memory = createMemoryRateLimiter()
    const shared = redisLimiter(0)
    const rate = gcraOf({ requests: 4, perSeconds: 2 })
    const start = 1_800_000_000_000
    // Times in ms: a burst, a wait of part of an interval, a longer pause, another burst.
    const times = [
      0, 0, 0, 0, 0, 120, 499, 500, 501, 1_000, 1_000, 4_000, 4_000, 4_000, 4_000, 4_000, 4_001,
    ]
    const verdicts = async (limiter: RateLimiter, key: string) => {
      const out = []
      for (const t of times) out.push(await limiter.take(key, rate, start + t))
      return out
    }
    const expected = await verdicts(memory, 'seq')
    expect(await verdicts(shared, 'seq')).toEqual(expected)
    expect(expected.filter((v) => v.kind === 'allowed')).toHaveLength(4 + 2 + 4)
    expect(expected[4]).toEqual({ kind: 'limited', retryAfterMs: 500 })
  })

  it('holds a limit in total under concurrent takes from three connections', async () => {
    const rate = gcraOf({ requests: 10, perSeconds: 3600 })
    const now = Date.now()
    const takes = Array.from({ length: 60 }, (_, i) => redisLimiter(i % 3).take('burst', rate, now))
    const verdicts = await Promise.all(takes)
    expect(verdicts.filter((v) => v.kind === 'allowed')).toHaveLength(10)
    for (const v of verdicts.filter((v) => v.kind === 'limited')) {
      expect(v).toEqual({ kind: 'limited', retryAfterMs: 360_000 })
    }
  })

  it('lets a key expire once it means nothing (no key without a TTL)', async () => {
    const rate = gcraOf({ requests: 2, perSeconds: 60 })
    await redisLimiter(0).take('ttl', rate, Date.now())
    const ttl = await connections[0]!.client.pttl(redisKeys('rl:').limit('ttl'))
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(30_000)
  })

  it('keeps the memory limiter bounded: passed keys are swept', async () => {
    const memory = createMemoryRateLimiter({ sweepAbove: 100 })
    const rate = gcraOf({ requests: 1, perSeconds: 1 })
    for (let i = 0; i < 100; i++) await memory.take(`k${i}`, rate, 0)
    expect(memory.size()).toBe(100)
    await memory.take('later', rate, 10_000)
    expect(memory.size()).toBe(1)
  })
})
