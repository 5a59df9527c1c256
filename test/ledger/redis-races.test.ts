/**
 * Two gateway processes on one Redis: two RedisLedger instances, two connections, racing on the
 * same channel. Atomicity comes from Redis running each script alone, not from the Node event
 * loop, so the outcome must be as exact as within one process.
 */
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AuthorizeInput } from '../../src/ledger/port.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { expectInvariants, newChannel, voucher } from './contract.js'

describe('redis ledger: two connections racing on one channel', () => {
  let server: RedisServer
  let a: RedisLedger
  let b: RedisLedger
  const now = 1_700_000_000_000
  const base = { minDelta: 0n, now }

  beforeAll(async () => {
    server = await startRedisServer()
    a = await createRedisLedger({ url: server.url, keyPrefix: 'race:' })
    b = await createRedisLedger({ url: server.url, keyPrefix: 'race:' })
  })
  afterAll(async () => {
    await a.close()
    await b.close()
    await server.stop()
  })

  /** Sends the i-th call through `a` or `b` alternately. */
  const either = (i: number) => (i % 2 === 0 ? a : b)

  async function opened(): Promise<Hex> {
    const channel = newChannel()
    expect((await a.open(channel, now)).kind).toBe('created')
    expect((await b.open(channel, now)).kind).toBe('exists')
    return channel.channelId
  }

  it('charges exactly the headroom when both race', async () => {
    const id = await opened()
    await a.authorize({ ...base, channelId: id, voucher: voucher(70n), amount: 0n, mode: 'none' })
    const charge: Omit<AuthorizeInput, 'channelId'> = {
      ...base,
      voucher: voucher(70n),
      amount: 10n,
      mode: 'commit',
    }
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => either(i).authorize({ ...charge, channelId: id })),
    )
    expect(results.filter((r) => r.kind === 'authorized')).toHaveLength(7)
    expect(results.filter((r) => r.kind === 'insufficient')).toHaveLength(53)
    const seenByA = (await a.get(id))!
    expect(seenByA).toMatchObject({ spent: 70n, units: 7, reserved: 0n })
    expect(await b.get(id)).toEqual(seenByA)
    expectInvariants(seenByA)
  })

  it('accepts a voucher replayed across both connections exactly once', async () => {
    const id = await opened()
    const replay = {
      ...base,
      channelId: id,
      voucher: voucher(40n),
      amount: 1n,
      mode: 'commit' as const,
    }
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => either(i).authorize(replay)),
    )
    const outcomes = results.map((r) => (r.kind === 'authorized' ? r.voucher : r.kind))
    expect(outcomes.filter((o) => o === 'new')).toHaveLength(1)
    expect(outcomes.filter((o) => o === 'same')).toHaveLength(39)
    expect(await a.get(id)).toMatchObject({ accepted: voucher(40n), spent: 40n, units: 40 })
  })

  it('settles racing vouchers from both connections on the highest, charging each once', async () => {
    const id = await opened()
    const cums = Array.from({ length: 40 }, (_, i) => 10n * BigInt(i + 1)).reverse()
    const results = await Promise.all(
      cums.map((cum, i) =>
        either(i).authorize({
          ...base,
          channelId: id,
          voucher: voucher(cum),
          amount: 5n,
          mode: 'commit',
        }),
      ),
    )
    const charged = results.filter((r) => r.kind === 'authorized').length
    const record = (await b.get(id))!
    expect(record.accepted).toEqual(voucher(400n))
    expect(record.spent).toBe(BigInt(charged) * 5n)
    expect(record.units).toBe(charged)
    expectInvariants(record)
  })

  it('resolves a reservation once when both connections commit and release it', async () => {
    const id = await opened()
    await a.authorize({
      ...base,
      channelId: id,
      voucher: voucher(30n),
      amount: 30n,
      mode: 'reserve',
      reservationId: 'shared',
      expiresAt: now + 60_000,
    })
    const results = await Promise.all([
      a.commit(id, 'shared', now),
      b.commit(id, 'shared', now),
      b.release(id, 'shared', now),
      a.release(id, 'shared', now),
    ])
    const resolved = results.filter((r) => r.kind === 'committed' || r.kind === 'released')
    expect(resolved).toHaveLength(1)
    const spent = resolved[0]!.kind === 'committed' ? 30n : 0n
    expect(await a.get(id)).toMatchObject({ spent, reserved: 0n })
  })
})
