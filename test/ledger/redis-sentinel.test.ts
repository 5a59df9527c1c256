/**
 * The Redis ledger through Redis Sentinel (a primary, its replica and one Sentinel, real
 * redis-server processes on loopback; one group for the whole file): the shared contract
 * unchanged, then the primary killed -9: the ledger follows the Sentinel to the promoted replica,
 * where every voucher `minReplicas: 1` confirmed is found.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisLedger } from '../../src/ledger/redis/ledger.js'
import { startRedisSentinel, type RedisSentinelGroup } from '../support/redis-sentinel.js'
import { until } from '../support/wait.js'
import { describeLedgerContract, newChannel, voucher } from './contract.js'

let group: RedisSentinelGroup
beforeAll(async () => {
  group = await startRedisSentinel()
})
afterAll(async () => {
  await group.stop()
})

const throughSentinel = (keyPrefix: string, minReplicas = 0) =>
  createRedisLedger({
    sentinel: { name: group.name, nodes: [group.sentinelUrl] },
    keyPrefix,
    minReplicas,
  })

describeLedgerContract('redis sentinel', { create: () => throughSentinel('contract:') })

describe('redis ledger through Sentinel: failover', () => {
  const t0 = 1_700_000_000_000

  it('follows the promoted replica, where every voucher confirmed by WAIT is found', async () => {
    const ledger = await throughSentinel('failover:', 1)
    try {
      const channels = Array.from({ length: 5 }, () => newChannel())
      for (const channel of channels) {
        await ledger.open(channel, t0)
        for (const cumulative of [10n, 20n, 30n]) {
          const result = await ledger.authorize({
            channelId: channel.channelId,
            voucher: voucher(cumulative),
            amount: 10n,
            mode: 'commit',
            minDelta: 0n,
            now: t0,
          })
          expect(result.kind).toBe('authorized')
        }
      }

      await group.primary.kill9()
      await group.promoted(group.replica)
      // The promoted replica has no replica of its own: reads work, a voucher step is refused.
      for (const channel of channels) {
        const record = await until('the channel through the new primary', async () =>
          ledger.get(channel.channelId).catch(() => undefined),
        )
        expect(record).toMatchObject({ accepted: { cumulative: 30n }, spent: 30n })
      }
      await expect(
        ledger.authorize({
          channelId: channels[0]!.channelId,
          voucher: voucher(40n),
          amount: 10n,
          mode: 'commit',
          minDelta: 0n,
          now: t0,
        }),
      ).rejects.toMatchObject({ code: 'ledger-unavailable' })
    } finally {
      await ledger.close()
    }
  })
})
