/**
 * The least-privilege ACL user documented in config/redis.conf is enough for everything the
 * gateway does in Redis: the ledger's scripts and index, and the settlement store.
 */
import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisLedger } from '../../src/ledger/redis/ledger.js'
import { createRedisSettlementStore } from '../../src/ledger/redis/settlement-store.js'
import { gcraOf } from '../../src/limits/gcra.js'
import { createRedisRateLimiter } from '../../src/limits/redis.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { newChannel, voucher } from './contract.js'

/** The `user mppgw …` rule from the comment in config/redis.conf, as ACL SETUSER arguments. */
function documentedAcl(): string[] {
  const conf = readFileSync(new URL('../../config/redis.conf', import.meta.url), 'utf8')
  const lines = conf.split('\n')
  const start = lines.findIndex((l) => l.startsWith('#   user mppgw'))
  const rule: string[] = []
  for (const line of lines.slice(start)) {
    const text = line.replace(/^#\s*/, '')
    if (!text.startsWith('user') && !text.startsWith('+')) break
    rule.push(text)
  }
  return rule.join(' ').split(/\s+/).slice(1)
}

describe('documented Redis ACL', () => {
  let server: RedisServer
  let url: string
  beforeAll(async () => {
    server = await startRedisServer()
    const admin = new Redis(server.url)
    const acl = documentedAcl().map((part) => (part === '>CHANGE-ME' ? '>acl-test-password' : part))
    expect(acl[0]).toBe('mppgw')
    await admin.call('ACL', 'SETUSER', ...acl)
    admin.disconnect()
    url = server.url.replace('redis://', 'redis://mppgw:acl-test-password@')
  })
  afterAll(async () => {
    await server.stop()
  })

  it('lets the ledger and the settlement store do all their work', async () => {
    const ledger = await createRedisLedger({ url, keyPrefix: 'mppgw:' })
    try {
      const channel = newChannel()
      const id = channel.channelId
      expect((await ledger.open(channel, 1)).kind).toBe('created')
      expect(
        (
          await ledger.authorize({
            channelId: id,
            voucher: voucher(10n),
            amount: 10n,
            mode: 'commit',
            minDelta: 0n,
            now: 2,
          })
        ).kind,
      ).toBe('authorized')
      expect(await ledger.index.unsettled(10)).toHaveLength(1)
      expect(await ledger.index.open(10)).toContain(id)
      expect((await ledger.durability()).risk).not.toBe('unknown')

      const store = createRedisSettlementStore({ client: ledger.client, keyPrefix: 'mppgw:' })
      const lease = (await store.acquire(id, 'me', 5_000))!
      const txHash = `0x${'03'.repeat(32)}` as const
      expect(
        await store.saveIntent(lease, {
          channelId: id,
          kind: 'settle',
          cumulative: 10n,
          capture: undefined,
          txHash,
          rawTransaction: '0x76',
          validBefore: 1,
          fence: lease.fence,
          createdAt: 1,
        }),
      ).toBe(true)
      expect(await store.pendingIntents()).toEqual([id])
      await store.clearIntent(id, txHash)
      await store.release(lease)
      await store.setCursor(7n)
      expect(await store.cursor()).toBe(7n)
      expect((await ledger.finalize(id, { settled: 10n, txHash: undefined }, 3)).kind).toBe('ok')
      const payer = channel.descriptor.payer
      const blocked = await ledger.blocks.block(payer, { since: 4, reason: undefined })
      expect(blocked.kind).toBe('blocked')
      expect(await ledger.blocks.get(payer)).toEqual(blocked.block)
      expect(await ledger.blocks.list(5)).toEqual([blocked.block])
      expect(await ledger.blocks.unblock(payer)).toBe(true)
    } finally {
      await ledger.close()
    }
  })

  it('lets the rate limiter count and refuse', async () => {
    const ledger = await createRedisLedger({ url, keyPrefix: 'mppgw:' })
    try {
      const limiter = createRedisRateLimiter({ client: ledger.client, keyPrefix: 'mppgw:' })
      const rate = gcraOf({ requests: 1, perSeconds: 60 })
      expect(await limiter.take('acl', rate, 1_000)).toEqual({ kind: 'allowed' })
      expect(await limiter.take('acl', rate, 1_000)).toEqual({
        kind: 'limited',
        retryAfterMs: 60_000,
      })
    } finally {
      await ledger.close()
    }
  })
})
