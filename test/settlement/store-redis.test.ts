/**
 * The settlement store on a real redis-server: the shared contract, and what every call does
 * while Redis is down — reject with `ledger-unavailable` (503, `Retry-After: 1`), exactly like
 * the ledger — and that the store works again, its state intact, once Redis is back; and that a
 * channel's fence key lives exactly as long as the channel (and always longer than its leases).
 */
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/errors.js'
import { createRedisClient } from '../../src/ledger/redis/connection.js'
import { redisKeys } from '../../src/ledger/redis/keys.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { createRedisSettlementStore } from '../../src/ledger/redis/settlement-store.js'
import type { SettlementIntent, SettlementStore } from '../../src/settlement/store.js'
import { newChannel } from '../ledger/contract.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { until } from '../support/wait.js'
import { describeSettlementStoreContract } from './store-contract.js'

describeSettlementStoreContract('redis', async () => {
  const server = await startRedisServer()
  // The connection the gateway gives the store: the ledger's options (no offline queue, …).
  const client = createRedisClient({ url: server.url })
  await client.connect()
  const store = createRedisSettlementStore({ client, keyPrefix: 'test:' })
  return {
    ...store,
    async teardown() {
      client.disconnect()
      await server.stop()
    },
  }
})

describe('settlement store on Redis while Redis is down', () => {
  let server: RedisServer
  let ledger: RedisLedger
  let store: SettlementStore
  const channelId: Hex = `0x${'5e'.repeat(32)}`

  beforeAll(async () => {
    server = await startRedisServer({ appendonly: true, appendfsync: 'always' })
    ledger = await createRedisLedger({ url: server.url, keyPrefix: 'down:' })
    store = createRedisSettlementStore({ client: ledger.client, keyPrefix: 'down:' })
  })
  afterAll(async () => {
    await ledger.close()
    await server.stop()
  })

  it('rejects every call with ledger-unavailable, then works again with its state intact', async () => {
    const lease = (await store.acquire(channelId, 'settler-a', 60_000))!
    const intent: SettlementIntent = {
      channelId,
      kind: 'close',
      cumulative: 70_000n,
      capture: 60_000n,
      txHash: `0x${'7a'.repeat(32)}`,
      rawTransaction: '0x76aa',
      validBefore: 1_900_000_000,
      fence: lease.fence,
      createdAt: 1_800_000_000_000,
    }
    expect(await store.saveIntent(lease, intent)).toBe(true)
    await store.setCursor(99n)

    await server.kill9()
    const calls: Record<string, () => Promise<unknown>> = {
      acquire: () => store.acquire(channelId, 'settler-b', 60_000),
      release: () => store.release(lease),
      saveIntent: () => store.saveIntent(lease, intent),
      intent: () => store.intent(channelId),
      pendingIntents: () => store.pendingIntents(),
      clearIntent: () => store.clearIntent(channelId, intent.txHash),
      cursor: () => store.cursor(),
      setCursor: () => store.setCursor(100n),
    }
    for (const [name, call] of Object.entries(calls)) {
      const failure = await call().then(
        () => new Error(`${name} resolved while Redis was down`),
        (error: unknown) => error,
      )
      expect(failure, name).toBeInstanceOf(GatewayError)
      expect(failure, name).toMatchObject({
        code: 'ledger-unavailable',
        status: 503,
        retryAfter: 1,
      })
    }

    await server.restart()
    await until('the store to reach Redis again', () =>
      store.cursor().then(
        () => true,
        () => undefined,
      ),
    )
    // Nothing acknowledged before the outage was lost (append-only file, fsync always).
    expect(await store.cursor()).toBe(99n)
    expect(await store.intent(channelId)).toEqual(intent)
    expect(await store.pendingIntents()).toEqual([channelId])
    // The lease is still the current one (its TTL outlived the outage): others are kept out.
    expect(await store.acquire(channelId, 'settler-b', 60_000)).toBeUndefined()
    await store.clearIntent(channelId, intent.txHash)
    expect(await store.pendingIntents()).toEqual([])
    await store.release(lease)
    expect(await store.acquire(channelId, 'settler-b', 60_000)).toMatchObject({
      fence: lease.fence + 1,
    })
  })
})

describe('fence keys on Redis live as long as their channel', () => {
  let server: RedisServer
  let ledger: RedisLedger
  let store: SettlementStore
  const prefix = 'fence:'
  const fenceKey = (id: Hex) => redisKeys(prefix).fence(id.toLowerCase() as Hex)

  beforeAll(async () => {
    server = await startRedisServer()
    ledger = await createRedisLedger({ url: server.url, keyPrefix: prefix, finalizedTtlSeconds: 2 })
    store = createRedisSettlementStore({ client: ledger.client, keyPrefix: prefix })
  })
  afterAll(async () => {
    await ledger.close()
    await server.stop()
  })

  it('a live channel keeps its fence; a finalized channel’s fence expires with it', async () => {
    const channel = newChannel()
    await ledger.open(channel, Date.now())
    const lease = (await store.acquire(channel.channelId, 'closer', 10_000))!
    await store.release(lease)
    expect(await ledger.client.pttl(fenceKey(channel.channelId))).toBe(-1)

    await ledger.finalize(channel.channelId, { settled: 0n, txHash: undefined }, Date.now())
    const ttl = await ledger.client.pttl(fenceKey(channel.channelId))
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(2_000)
    await until('the fence key to expire', async () =>
      (await ledger.client.exists(fenceKey(channel.channelId))) === 0 ? true : undefined,
    )
  })

  it('a channel found gone on chain takes its fence along; so does one locked only after it was finalized', async () => {
    const gone = newChannel()
    await ledger.open(gone, Date.now())
    await store.release((await store.acquire(gone.channelId, 'settler', 10_000))!)
    await ledger.syncChain(gone.channelId, { deposit: 0n, settled: 0n, closeRequestedAt: 0 }, 1)
    expect(await ledger.client.pttl(fenceKey(gone.channelId))).toBeGreaterThan(0)

    // Finalized before any lease: the first lease gives the fence the channel's remaining life,
    // at least the lease's own plus a margin (a fence must never restart under a live lease).
    const late = newChannel()
    await ledger.open(late, Date.now())
    await ledger.finalize(late.channelId, { settled: 0n, txHash: undefined }, Date.now())
    const lease = (await store.acquire(late.channelId, 'reconciler', 10_000))!
    const ttl = await ledger.client.pttl(fenceKey(late.channelId))
    expect(ttl).toBeGreaterThan(10_000)
    expect(ttl).toBeLessThanOrEqual(70_000)
    await store.release(lease)
  })

  it('a lease on a channel the ledger no longer holds leaves a fence that outlives it, then goes', async () => {
    const id: Hex = `0x${'ab'.repeat(32)}`
    const first = (await store.acquire(id, 'a', 5_000))!
    const ttl = await ledger.client.pttl(fenceKey(id))
    expect(ttl).toBeGreaterThan(5_000)
    // A later lease extends it: the fence always outlives the newest lease.
    await store.release(first)
    const second = (await store.acquire(id, 'b', 100_000))!
    expect(second.fence).toBeGreaterThan(first.fence)
    expect(await ledger.client.pttl(fenceKey(id))).toBeGreaterThan(100_000)
    await store.release(second)
  })
})
