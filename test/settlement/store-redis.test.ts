/**
 * The settlement store on a real redis-server: the shared contract, and what every call does
 * while Redis is down — reject with `ledger-unavailable` (503, `Retry-After: 1`), exactly like
 * the ledger — and that the store works again, its state intact, once Redis is back.
 */
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/errors.js'
import { createRedisClient } from '../../src/ledger/redis/connection.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { createRedisSettlementStore } from '../../src/ledger/redis/settlement-store.js'
import type { SettlementIntent, SettlementStore } from '../../src/settlement/store.js'
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
