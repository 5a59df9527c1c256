/**
 * Differential test: the Redis adapter makes exactly the decisions of the memory adapter (which
 * applies src/ledger/transitions.ts, the specification). Random sequences of every operation —
 * including reused reservation ids, expiries, closing, finalizing and amounts scaled to ~2^96 —
 * run against both; every result and every record read back must be equal.
 */
import fc from 'fast-check'
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMemoryLedger } from '../../src/ledger/memory.js'
import type { LedgerPort } from '../../src/ledger/port.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { newChannel, voucher } from './contract.js'

const reservationIds = ['r0', 'r1', 'r2']
const rid = fc.constantFrom(...reservationIds)
const small = (max: bigint) => fc.bigInt({ min: 0n, max })

/** The operations; `ending` weighs those that close or finalize the channel. */
const ops = (ending: number) =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        t: fc.constant('authorize' as const),
        withVoucher: fc.boolean(),
        cum: small(1_200n),
        amount: small(60n),
        mode: fc.constantFrom(
          'reserve' as const,
          'hold' as const,
          'commit' as const,
          'none' as const,
        ),
        minDelta: fc.constantFrom(0n, 0n, 5n, 20n),
        reservation: fc.option(rid, { nil: undefined, freq: 5 }),
        ttl: fc.nat({ max: 2_000 }),
      }),
    },
    {
      // A voucher just above the highest: long runs of these fill and overflow the retained
      // pending vouchers (transitions.ts `maxPendingVouchers`).
      weight: 4,
      arbitrary: fc.record({
        t: fc.constant('raise' as const),
        delta: fc.bigInt({ min: 1n, max: 40n }),
        amount: small(30n),
        mode: fc.constantFrom(
          'reserve' as const,
          'hold' as const,
          'commit' as const,
          'none' as const,
        ),
        reservation: rid,
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        t: fc.constant('commit' as const),
        r: rid,
        // A part of the reservation (a price read from the answer), sometimes above it.
        part: fc.option(fc.bigInt({ min: 0n, max: 60n }), { nil: undefined }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant('release' as const),
        r: rid,
        // Sometimes voiding an id not (yet) used, as after an authorize whose outcome is unknown.
        voids: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ t: fc.constant('topUp' as const), deposit: small(2_000n) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('sync' as const),
        deposit: fc.oneof(
          { weight: ending, arbitrary: fc.constant(0n) },
          { weight: 6, arbitrary: small(2_000n) },
        ),
        settled: small(1_000n),
        closeRequestedAt: ending === 0 ? fc.constant(0) : fc.constantFrom(0, 0, 1_700_000_000),
      }),
    },
    { weight: ending, arbitrary: fc.record({ t: fc.constant('markClosing' as const) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('cancelClosing' as const) }) },
    {
      weight: ending,
      arbitrary: fc.record({
        t: fc.constant('finalize' as const),
        settled: small(1_000n),
        tx: fc.boolean(),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.nat({ max: 1_500 }) }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('reopen' as const) }) },
  )

type Op = ReturnType<typeof ops> extends fc.Arbitrary<infer T> ? T : never

/** Applies one operation; a thrown error is part of the outcome (its message). */
async function apply(options: {
  ledger: LedgerPort
  id: Hex
  o: Op
  clock: number
  scale: bigint
  /** The highest accepted voucher before this operation (from the memory adapter). */
  highest: bigint
}): Promise<unknown> {
  const { ledger, id, o, clock, scale, highest } = options
  const step = async (): Promise<unknown> => {
    switch (o.t) {
      case 'authorize':
        return ledger.authorize({
          channelId: id,
          voucher: o.withVoucher ? voucher(o.cum * scale) : undefined,
          amount: o.amount * scale,
          mode: o.mode,
          minDelta: o.minDelta * scale,
          now: clock,
          ...(o.reservation === undefined
            ? {}
            : { reservationId: o.reservation, expiresAt: clock + o.ttl }),
        })
      case 'raise':
        return ledger.authorize({
          channelId: id,
          voucher: voucher(highest + o.delta * scale),
          amount: o.amount * scale,
          mode: o.mode,
          minDelta: 0n,
          now: clock,
          reservationId: o.reservation,
          expiresAt: clock + 1_000,
        })
      case 'commit':
        return ledger.commit(id, o.r, clock, o.part === undefined ? undefined : o.part * scale)
      case 'release':
        return ledger.release(id, o.r, clock, o.voids ? clock + 1_000 : undefined)
      case 'topUp':
        return ledger.recordTopUp(id, o.deposit * scale, clock)
      case 'sync':
        return ledger.syncChain(
          id,
          {
            deposit: o.deposit * scale,
            settled: o.settled * scale,
            closeRequestedAt: o.closeRequestedAt,
          },
          clock,
        )
      case 'markClosing':
        return ledger.markClosing(id, clock)
      case 'cancelClosing':
        return ledger.cancelClosing(id, clock)
      case 'finalize':
        return ledger.finalize(
          id,
          { settled: o.settled * scale, txHash: o.tx ? `0x${'ee'.repeat(32)}` : undefined },
          clock,
        )
      case 'reopen':
        return ledger.open({ ...newChannel(), channelId: id }, clock)
      case 'tick':
        return undefined
    }
  }
  try {
    return await step()
  } catch (error) {
    return { threw: error instanceof Error ? error.message : String(error) }
  }
}

describe('redis adapter ≡ memory adapter (transitions.ts)', () => {
  let server: RedisServer
  let redis: RedisLedger

  beforeAll(async () => {
    server = await startRedisServer()
    redis = await createRedisLedger({ url: server.url, keyPrefix: 'equiv:' })
  })
  afterAll(async () => {
    await redis.close()
    await server.stop()
  })

  /** Runs `sequence` on a fresh channel in both adapters, comparing after every step. */
  const compare = async (sequence: readonly Op[], scale: bigint) => {
    const memory = createMemoryLedger()
    const channel = newChannel(1_000n * scale)
    const id = channel.channelId
    let clock = 1_700_000_000_000
    expect(await redis.open(channel, clock)).toEqual(await memory.open(channel, clock))
    for (const o of sequence) {
      if (o.t === 'tick') clock += o.ms
      const highest = (await memory.get(id))?.accepted.cumulative ?? 0n
      const want = await apply({ ledger: memory, id, o, clock, scale, highest })
      const got = await apply({ ledger: redis, id, o, clock, scale, highest })
      const label = JSON.stringify(o, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))
      expect(got, label).toEqual(want)
      expect(await redis.get(id)).toEqual(await memory.get(id))
    }
  }
  const scales = fc.constantFrom(1n, 2n ** 86n)

  it('gives the same result and record after every operation', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(ops(1), { minLength: 1, maxLength: 40 }), scales, compare),
      { numRuns: 150 },
    )
  })

  it('stays equal over long lives of an open channel (pending vouchers overflow)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(ops(0), { minLength: 20, maxLength: 80 }), scales, compare),
      { numRuns: 60 },
    )
  })

  it('upper-case channel ids address the same lower-cased record', async () => {
    const memory = createMemoryLedger()
    const channel = newChannel()
    const upper: Hex = `0x${channel.channelId.slice(2).toUpperCase()}`
    const now = 1_700_000_000_000
    expect(await redis.open({ ...channel, channelId: upper }, now)).toEqual(
      await memory.open({ ...channel, channelId: upper }, now),
    )
    const charge = {
      channelId: upper,
      voucher: voucher(5n),
      amount: 5n,
      mode: 'commit' as const,
      minDelta: 0n,
      now,
    }
    expect(await redis.authorize(charge)).toEqual(await memory.authorize(charge))
    expect(await redis.get(channel.channelId)).toEqual(await memory.get(channel.channelId))
  })
})
