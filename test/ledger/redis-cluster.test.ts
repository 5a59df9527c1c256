/**
 * The Redis ledger and settlement store on a Redis Cluster (three primaries, three replicas, real
 * redis-server processes on loopback; one cluster for the whole file): the shared contracts
 * unchanged, keys spread over every primary, the scans and indexes reaching every primary, and
 * `minReplicas` (WAIT) both met and not met.
 */
import { Redis } from 'ioredis'
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/errors.js'
import { redisKeys } from '../../src/ledger/redis/keys.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { createRedisSettlementStore } from '../../src/ledger/redis/settlement-store.js'
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.js'
import { describeSettlementStoreContract } from '../settlement/store-contract.js'
import { describeLedgerContract, newChannel, voucher } from './contract.js'

let cluster: RedisCluster
beforeAll(async () => {
  cluster = await startRedisCluster()
})
afterAll(async () => {
  await cluster.stop()
})

const onCluster = (keyPrefix: string, extra: { minReplicas?: number; timeoutMs?: number } = {}) =>
  createRedisLedger({
    cluster: { nodes: cluster.seeds },
    keyPrefix,
    minReplicas: extra.minReplicas,
    minReplicasTimeoutMs: extra.timeoutMs,
  })

describeLedgerContract('redis cluster', { create: () => onCluster('contract:') })

describeSettlementStoreContract('redis cluster', async () => {
  const ledger = await onCluster('store:')
  const store = createRedisSettlementStore({ client: ledger.client, keyPrefix: 'store:' })
  return { ...store, teardown: () => ledger.close() }
})

describe('redis ledger on a cluster', () => {
  const t0 = 1_700_000_000_000
  let ledger: RedisLedger
  beforeAll(async () => {
    ledger = await onCluster('spread:')
  })
  afterAll(async () => {
    await ledger.close()
  })

  it('spreads channels and the unsettled index over every primary; the scans reach them all', async () => {
    const keys = redisKeys('spread:')
    const ids: Hex[] = []
    for (let i = 0; i < 48; i += 1) {
      const channel = newChannel()
      await ledger.open(channel, t0)
      ids.push(channel.channelId)
    }
    // Charged at distinct times, in reverse, so "longest unsettled first" is the reverse order.
    await Promise.all(
      ids.map((channelId, i) =>
        ledger.authorize({
          channelId,
          voucher: voucher(10n),
          amount: 10n,
          mode: 'commit',
          minDelta: 0n,
          now: t0 + 1_000 - i,
        }),
      ),
    )
    const homes = async (names: readonly string[]) =>
      new Set(await Promise.all(names.map(async (key) => (await cluster.primaryOf(key)).id)))
    expect((await homes(ids.map((id) => keys.channel(id)))).size).toBe(3)
    const buckets = new Set(ids.map((id) => keys.unsettled(id)))
    expect(buckets.size).toBeGreaterThan(8)
    expect((await homes([...buckets])).size).toBe(3)

    const listed = await ledger.listUnsettled(1_000)
    expect(listed.filter((id) => ids.includes(id))).toEqual([...ids].reverse())
    const due = await ledger.index.unsettled(1_000)
    expect(new Set(due.map((d) => d.channelId))).toEqual(new Set(ids))
    expect(new Set(await ledger.index.open(1_000))).toEqual(new Set(ids))

    // An entry lost on one primary comes back from the scan of every primary.
    const [lost] = ids
    await ledger.client.zrem(keys.unsettled(lost!), lost!)
    expect(await ledger.listUnsettled(1_000)).not.toContain(lost)
    await ledger.index.open(1_000)
    expect(await ledger.client.zscore(keys.unsettled(lost!), lost!)).toBe(String(t0 + 1_000))
  })

  it('reports the durability of the weakest primary', async () => {
    const report = await ledger.durability()
    expect(report.appendonly).toBe('no')
    expect(report.risk).toBe('all-since-last-save')
  })

  it('with minReplicas 1 an authorized voucher is on the replica when authorize resolves', async () => {
    const waiting = await onCluster('spread:', { minReplicas: 1 })
    try {
      for (let i = 0; i < 6; i += 1) {
        const channel = newChannel()
        await waiting.open(channel, t0)
        const result = await waiting.authorize({
          channelId: channel.channelId,
          voucher: voucher(70n),
          amount: 10n,
          mode: 'commit',
          minDelta: 0n,
          now: t0,
        })
        expect(result.kind).toBe('authorized')
        const key = redisKeys('spread:').channel(channel.channelId)
        const primary = await cluster.primaryOf(key)
        const replica = (await cluster.primaries()).find(
          (p) => p.primary.id === primary.id,
        )?.replica
        expect(replica).toBeDefined()
        // Asked of the replica at once: WAIT returned only after it acknowledged the write.
        const reader = new Redis(replica!.server.port, '127.0.0.1')
        try {
          await reader.call('READONLY')
          expect(await reader.hmget(key, 'acceptedCumulative', 'spent')).toEqual(['70', '10'])
        } finally {
          reader.disconnect()
        }
      }
    } finally {
      await waiting.close()
    }
  })

  it('with more replicas required than exist: 503 ledger-unavailable, the reservation given back', async () => {
    const waiting = await onCluster('spread:', { minReplicas: 2, timeoutMs: 100 })
    try {
      const channel = newChannel()
      await waiting.open(channel, t0)
      const failure = await waiting
        .authorize({
          channelId: channel.channelId,
          voucher: voucher(50n),
          amount: 10n,
          mode: 'reserve',
          reservationId: 'r1',
          expiresAt: t0 + 60_000,
          minDelta: 0n,
          now: t0,
        })
        .then(
          () => undefined,
          (error: unknown) => error,
        )
      expect(failure).toBeInstanceOf(GatewayError)
      expect(failure).toMatchObject({ code: 'ledger-unavailable', status: 503 })
      // The voucher stays accepted (the payer's own claim); nothing stays held or spent.
      expect(await waiting.get(channel.channelId)).toMatchObject({
        accepted: { cumulative: 50n },
        reserved: 0n,
        spent: 0n,
      })
    } finally {
      await waiting.close()
    }
  })
})
