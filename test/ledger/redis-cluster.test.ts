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
import { until } from '../support/wait.js'
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

  it('reports the durability and the replica count of the weakest primary', async () => {
    expect(await ledger.replicas()).toBe(1)
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

describe('redis ledger on a cluster: a failover to a replica that missed writes', () => {
  const t0 = 1_700_000_000_000
  const prefix = 'lag:'

  it('loses vouchers acknowledged without WAIT; with minReplicas 1 the lagging replica makes authorize refuse, and what WAIT confirmed survives', async () => {
    const plain = await onCluster(prefix)
    const waiting = await onCluster(prefix, { minReplicas: 1, timeoutMs: 200 })
    try {
      const channel = newChannel()
      const id = channel.channelId
      const charge = (ledger: RedisLedger, cumulative: bigint) =>
        ledger.authorize({
          channelId: id,
          voucher: voucher(cumulative),
          amount: 10n,
          mode: 'commit',
          minDelta: 0n,
          now: t0,
        })
      await plain.open(channel, t0)
      expect((await charge(waiting, 10n)).kind).toBe('authorized')

      const key = redisKeys(prefix).channel(id)
      const primary = await cluster.primaryOf(key)
      const replica = (await cluster.primaries()).find((p) => p.primary.id === primary.id)?.replica
      expect(replica).toBeDefined()
      // The replica stops reading, and the primary drops it at its next write (an output buffer
      // limit of one byte), so it cannot take in, even from its socket, what follows.
      replica!.server.freeze()
      const admin = new Redis(primary.server.port, '127.0.0.1')
      try {
        await admin.config('SET', 'client-output-buffer-limit', 'replica 1 1 0')
        expect((await charge(plain, 20n)).kind).toBe('authorized')
        await until('the primary to drop its replica', async () =>
          /^connected_slaves:0$/m.test(await admin.info('replication')) ? true : undefined,
        )
      } finally {
        admin.disconnect()
      }

      // Acknowledged without WAIT: answered as accepted, held by the primary alone.
      for (const cumulative of [30n, 40n, 50n]) {
        expect((await charge(plain, cumulative)).kind).toBe('authorized')
      }
      // With minReplicas 1 the same step is refused: no answer could leave on it.
      await expect(charge(waiting, 60n)).rejects.toMatchObject({ code: 'ledger-unavailable' })

      await primary.server.kill9()
      // Readiness holds while the other primaries answer (only this one's channels are refused).
      await plain.ping()
      replica!.server.thaw()
      await cluster.promoted(replica!)
      const after = await until('the channel on the promoted replica', async () =>
        plain.get(id).catch(() => undefined),
      )
      // What WAIT confirmed survived; the vouchers acknowledged without it are gone.
      expect(after.accepted.cumulative).toBeGreaterThanOrEqual(10n)
      expect(after.accepted.cumulative).toBeLessThan(30n)
    } finally {
      await Promise.all([plain.close(), waiting.close()])
    }
  })
})
