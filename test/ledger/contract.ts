/**
 * The ledger contract suite: every adapter of the ledger port must pass it unchanged. It pins each
 * transition, the invariants of src/ledger/port.ts, and atomicity under concurrency.
 */
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import type { Address, Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type {
  AuthorizeInput,
  ChannelRecord,
  LedgerPort,
  NewChannel,
} from '../../src/ledger/port.js'

let counter = 0
/** A fresh, unique channel for one test (by default of the same payer as every other). */
export function newChannel(
  deposit = 1_000_000n,
  payer: Address = '0x1111111111111111111111111111111111111111',
): NewChannel {
  counter += 1
  const id: Hex = `0x${(Date.now() * 1000 + counter).toString(16).padStart(64, '0')}`
  return {
    channelId: id,
    chainId: 31337,
    escrow: '0x4d50500000000000000000000000000000000000',
    descriptor: {
      payer,
      payee: '0x2222222222222222222222222222222222222222',
      operator: '0x0000000000000000000000000000000000000000',
      token: '0x20c0000000000000000000000000000000000000',
      salt: `0x${'ab'.repeat(32)}`,
      authorizedSigner: '0x0000000000000000000000000000000000000000',
      expiringNonceHash: `0x${'cd'.repeat(32)}`,
    },
    deposit,
    settled: 0n,
  }
}

export const voucher = (cumulative: bigint): { cumulative: bigint; signature: Hex } => ({
  cumulative,
  signature: `0x${cumulative.toString(16).padStart(130, '0')}`,
})

/** An authorize input that accepts a voucher of `cumulative` and charges 10 units at once. */
export const chargeInput = (channelId: Hex, cumulative: bigint, now: number): AuthorizeInput => ({
  channelId,
  voucher: voucher(cumulative),
  amount: 10n,
  mode: 'commit',
  minDelta: 0n,
  now,
})

/** Checks the invariants that must hold after every operation. */
export function expectInvariants(record: ChannelRecord, previous?: ChannelRecord) {
  expect(record.spent + record.reserved).toBeLessThanOrEqual(record.accepted.cumulative)
  expect(record.accepted.cumulative).toBeLessThanOrEqual(record.deposit)
  expect(record.reserved).toBeGreaterThanOrEqual(0n)
  expect(record.held).toBeGreaterThanOrEqual(0n)
  expect(record.held).toBeLessThanOrEqual(record.spent)
  if (record.settleVoucher)
    expect(record.settleVoucher.cumulative).toBeLessThanOrEqual(record.spent - record.held)
  if (previous) {
    expect(record.accepted.cumulative).toBeGreaterThanOrEqual(previous.accepted.cumulative)
    // Only a refunded hold takes value back: what is final never shrinks.
    expect(record.spent - record.held).toBeGreaterThanOrEqual(previous.spent - previous.held)
    expect(record.settled).toBeGreaterThanOrEqual(previous.settled)
  }
}

export type LedgerFactory = {
  create(): Promise<LedgerPort>
  /** Optional teardown of whatever backs the adapter. */
  teardown?(): Promise<void>
}

export function describeLedgerContract(name: string, factory: LedgerFactory) {
  describe(`ledger contract: ${name}`, () => {
    let ledger: LedgerPort
    const now = 1_700_000_000_000
    const base = { minDelta: 0n, now }

    beforeAll(async () => {
      ledger = await factory.create()
    })
    afterAll(async () => {
      await ledger.close()
      await factory.teardown?.()
    })

    async function opened(deposit?: bigint) {
      const channel = newChannel(deposit)
      const result = await ledger.open(channel, now)
      expect(result.kind).toBe('created')
      return channel.channelId
    }

    it('blocks a payer once, case-insensitively; lists and lifts blocks', async () => {
      const payer: Address = `0x${'Ab'.repeat(20)}`
      const other: Address = `0x${'cd'.repeat(20)}`
      expect(await ledger.blocks.get(payer)).toBeUndefined()
      const first = await ledger.blocks.block(payer, { since: now, reason: 'abuse' })
      expect(first).toEqual({
        kind: 'blocked',
        block: { payer: payer.toLowerCase(), since: now, reason: 'abuse' },
      })
      const again = await ledger.blocks.block(payer.toLowerCase() as Address, {
        since: now + 5,
        reason: undefined,
      })
      expect(again).toEqual({ kind: 'already', block: first.block })
      await ledger.blocks.block(other, { since: now - 1, reason: undefined })
      expect(await ledger.blocks.get(payer.toUpperCase().replace('0X', '0x') as Address)).toEqual(
        first.block,
      )
      expect(await ledger.blocks.list(10)).toEqual([
        { payer: other, since: now - 1, reason: undefined },
        first.block,
      ])
      expect(await ledger.blocks.list(1)).toHaveLength(1)
      expect(await ledger.blocks.unblock(payer)).toBe(true)
      expect(await ledger.blocks.unblock(payer)).toBe(false)
      expect(await ledger.blocks.get(payer)).toBeUndefined()
      expect(await ledger.blocks.unblock(other)).toBe(true)
      expect(await ledger.blocks.list(10)).toEqual([])
    })

    it('opens a channel once; a second open returns the record unchanged', async () => {
      const channel = newChannel()
      const first = await ledger.open(channel, now)
      expect(first.kind).toBe('created')
      expect(first.channel).toMatchObject({
        deposit: 1_000_000n,
        spent: 0n,
        units: 0,
        status: 'open',
        accepted: { cumulative: 0n, signature: '0x' },
      })
      await ledger.authorize({
        ...base,
        channelId: channel.channelId,
        voucher: voucher(10n),
        amount: 10n,
        mode: 'commit',
      })
      const second = await ledger.open({ ...channel, deposit: 5n }, now + 1)
      expect(second.kind).toBe('exists')
      expect(second.channel.deposit).toBe(1_000_000n)
      expect(second.channel.spent).toBe(10n)
      expect(await ledger.get(channel.channelId)).toEqual(second.channel)
    })

    it('knows nothing of an unknown channel', async () => {
      const unknown = newChannel().channelId
      expect(
        await ledger.authorize({
          ...base,
          channelId: unknown,
          voucher: voucher(1n),
          amount: 1n,
          mode: 'commit',
        }),
      ).toEqual({
        kind: 'not-found',
      })
      expect(await ledger.get(unknown)).toBeUndefined()
      expect((await ledger.commit(unknown, 'r', now)).kind).toBe('missing')
    })

    it('accepts increasing vouchers; equal is idempotent; lower, excessive and too-small are rejected without change', async () => {
      const id = await opened(1_000n)
      const accept = (cum: bigint, minDelta = 0n) =>
        ledger.authorize({
          ...base,
          minDelta,
          channelId: id,
          voucher: voucher(cum),
          amount: 0n,
          mode: 'none',
        })

      expect(await accept(100n)).toMatchObject({ kind: 'authorized', voucher: 'new' })
      const before = (await ledger.get(id))!
      expect(await accept(100n)).toMatchObject({ kind: 'authorized', voucher: 'same' })
      expect(await accept(99n)).toMatchObject({ kind: 'authorized', voucher: 'lower' })
      expect(await accept(1_001n)).toMatchObject({
        kind: 'voucher-rejected',
        reason: 'exceeds-deposit',
      })
      expect(await accept(105n, 10n)).toMatchObject({
        kind: 'voucher-rejected',
        reason: 'delta-too-small',
      })
      const after = (await ledger.get(id))!
      expect({ ...after, updatedAt: 0 }).toEqual({ ...before, updatedAt: 0 })
      expect(await accept(110n, 10n)).toMatchObject({ kind: 'authorized', voucher: 'new' })
      expect((await ledger.get(id))!.accepted).toEqual(voucher(110n))
    })

    it('reserves, commits once, releases once', async () => {
      const id = await opened()
      const r = await ledger.authorize({
        ...base,
        channelId: id,
        voucher: voucher(30n),
        amount: 10n,
        mode: 'reserve',
        reservationId: 'a',
        expiresAt: now + 60_000,
      })
      expect(r).toMatchObject({
        kind: 'authorized',
        snapshot: { accepted: 30n, spent: 0n, reserved: 10n },
      })
      await ledger.authorize({
        ...base,
        channelId: id,
        voucher: undefined,
        amount: 10n,
        mode: 'reserve',
        reservationId: 'b',
        expiresAt: now + 60_000,
      })

      expect(await ledger.commit(id, 'a', now)).toMatchObject({
        kind: 'committed',
        snapshot: { spent: 10n, units: 1, reserved: 10n },
      })
      expect((await ledger.commit(id, 'a', now)).kind).toBe('missing')
      expect(await ledger.release(id, 'b', now)).toMatchObject({
        kind: 'released',
        snapshot: { accepted: 30n, spent: 10n, units: 1, reserved: 0n },
      })
      expect((await ledger.release(id, 'b', now)).kind).toBe('missing')
      expect((await ledger.commit(id, 'b', now)).kind).toBe('missing')
      const record = (await ledger.get(id))!
      expect(record).toMatchObject({ spent: 10n, units: 1, reserved: 0n })
      expectInvariants(record)
    })

    it('pays from held headroom with a lower voucher, and only from it', async () => {
      const id = await opened()
      const reserve = (cumulative: bigint, reservationId: string) =>
        ledger.authorize({
          ...base,
          channelId: id,
          voucher: voucher(cumulative),
          amount: 10n,
          mode: 'reserve',
          reservationId,
          expiresAt: now + 60_000,
        })
      // Three requests at 10, vouchers 10, 20, 30: two served, the last not (released), so the
      // ledger holds 30 accepted and 20 spent: 10 of headroom the payer already signed for.
      await reserve(10n, 'a')
      await ledger.commit(id, 'a', now)
      await reserve(20n, 'b')
      await reserve(30n, 'c')
      await ledger.commit(id, 'b', now)
      await ledger.release(id, 'c', now)
      const before = (await ledger.get(id))!
      expect(before).toMatchObject({ spent: 20n, reserved: 0n })
      expect(before.accepted).toEqual(voucher(30n))

      // A client that rolled back to 10 signs 10 + 10 = 20: below the highest, paid from headroom.
      expect(await reserve(20n, 'd')).toMatchObject({
        kind: 'authorized',
        voucher: 'lower',
        snapshot: { accepted: 30n, spent: 20n, reserved: 10n },
      })
      const held = (await ledger.get(id))!
      expect(held.accepted).toEqual(voucher(30n))
      expectInvariants(held, before)
      // The headroom is spoken for: a second lower voucher pays nothing more.
      expect(await reserve(25n, 'e')).toMatchObject({ kind: 'insufficient', available: 0n })
      expect(await ledger.commit(id, 'd', now)).toMatchObject({
        kind: 'committed',
        snapshot: { accepted: 30n, spent: 30n, reserved: 0n },
      })
      expect(await reserve(29n, 'f')).toMatchObject({ kind: 'insufficient', available: 0n })
      const after = (await ledger.get(id))!
      expect(after.accepted).toEqual(voucher(30n))
      expectInvariants(after, held)
    })

    it('refuses a charge above the voucher headroom and reserves nothing', async () => {
      const id = await opened()
      const result = await ledger.authorize({
        ...base,
        channelId: id,
        voucher: voucher(15n),
        amount: 20n,
        mode: 'commit',
      })
      expect(result).toMatchObject({ kind: 'insufficient', available: 15n })
      expect(await ledger.get(id)).toMatchObject({ spent: 0n, reserved: 0n, units: 0 })
    })

    it('lets unresolved reservations expire', async () => {
      const id = await opened()
      await ledger.authorize({
        ...base,
        channelId: id,
        voucher: voucher(10n),
        amount: 10n,
        mode: 'reserve',
        reservationId: 'x',
        expiresAt: now + 1_000,
      })
      expect(
        (
          await ledger.authorize({
            ...base,
            channelId: id,
            voucher: undefined,
            amount: 10n,
            mode: 'commit',
          })
        ).kind,
      ).toBe('insufficient')
      const later = now + 1_000
      expect((await ledger.commit(id, 'x', later)).kind).toBe('missing')
      const r = await ledger.authorize({
        ...base,
        now: later,
        channelId: id,
        voucher: undefined,
        amount: 10n,
        mode: 'commit',
      })
      expect(r).toMatchObject({ kind: 'authorized', snapshot: { spent: 10n, reserved: 0n } })
    })

    it('keeps a settle voucher no higher than what was spent', async () => {
      const id = await opened()
      const reserve = (cum: bigint, rid: string) =>
        ledger.authorize({
          ...base,
          channelId: id,
          voucher: voucher(cum),
          amount: 10n,
          mode: 'reserve',
          reservationId: rid,
          expiresAt: now + 60_000,
        })
      await reserve(10n, 'r1')
      await reserve(20n, 'r2')
      await reserve(30n, 'r3')
      await ledger.commit(id, 'r1', now)
      expect((await ledger.get(id))!.settleVoucher).toEqual(voucher(10n))
      await ledger.release(id, 'r2', now)
      await ledger.commit(id, 'r3', now)
      const record = (await ledger.get(id))!
      expect(record.spent).toBe(20n)
      expect(record.settleVoucher).toEqual(voucher(20n))
      expectInvariants(record)
    })

    it('tells each charge what a settlement would claim now: the settle voucher beyond settled', async () => {
      const id = await opened()
      const reserve = (cum: bigint | undefined, rid: string) =>
        ledger.authorize({
          ...base,
          channelId: id,
          voucher: cum === undefined ? undefined : voucher(cum),
          amount: 10n,
          mode: 'reserve',
          reservationId: rid,
          expiresAt: now + 60_000,
        })
      expect(await reserve(10n, 's1')).toMatchObject({ kind: 'authorized', settleable: 0n })
      expect(await ledger.commit(id, 's1', now)).toMatchObject({ settleable: 10n })
      // A voucher ahead of what is spent is no settle voucher yet: the claim stays at the older one.
      await reserve(25n, 's2')
      expect(await ledger.commit(id, 's2', now)).toMatchObject({
        snapshot: { spent: 20n },
        settleable: 10n,
      })
      await ledger.syncChain(id, { deposit: 1_000_000n, settled: 10n, closeRequestedAt: 0 }, now)
      await reserve(30n, 's3')
      expect(await ledger.commit(id, 's3', now)).toMatchObject({ settleable: 20n })
      // The chain ahead of the settle voucher: nothing to claim, never a negative amount.
      await ledger.syncChain(id, { deposit: 1_000_000n, settled: 35n, closeRequestedAt: 0 }, now)
      expect(
        await ledger.authorize({
          ...base,
          channelId: id,
          voucher: undefined,
          amount: 0n,
          mode: 'none',
        }),
      ).toMatchObject({ kind: 'authorized', settleable: 0n })
    })

    it('holds: charged at once, refunded once by a release, final when they lapse', async () => {
      const id = await opened()
      const hold = (cum: bigint | undefined, rid: string, expiresAt = now + 60_000) =>
        ledger.authorize({
          ...base,
          channelId: id,
          voucher: cum === undefined ? undefined : voucher(cum),
          amount: 10n,
          mode: 'hold',
          reservationId: rid,
          expiresAt,
        })
      expect(await hold(10n, 'h1')).toMatchObject({
        kind: 'authorized',
        snapshot: { accepted: 10n, spent: 10n, units: 1, reserved: 0n },
      })
      expect(await hold(20n, 'h2')).toMatchObject({ snapshot: { spent: 20n, units: 2 } })
      expect(await hold(30n, 'h3', now + 1_000)).toMatchObject({
        snapshot: { spent: 30n, units: 3 },
      })
      // No headroom left: a fourth charge is refused and holds nothing.
      expect((await hold(undefined, 'h4')).kind).toBe('insufficient')
      let record = (await ledger.get(id))!
      expect(record).toMatchObject({ spent: 30n, held: 30n, units: 3 })
      // A refundable charge is never settleable.
      expect(record.settleVoucher).toBeUndefined()
      expectInvariants(record)

      // The refund, once: value and unit go back; a second release and a commit find nothing.
      expect(await ledger.release(id, 'h2', now)).toMatchObject({
        kind: 'released',
        snapshot: { spent: 20n, units: 2, reserved: 0n },
      })
      expect((await ledger.release(id, 'h2', now)).kind).toBe('missing')
      expect((await ledger.commit(id, 'h1', now)).kind).toBe('missing')
      const refunded = (await ledger.get(id))!
      expect(refunded).toMatchObject({ spent: 20n, held: 20n, units: 2 })
      expectInvariants(refunded, record)

      // h3 lapses: final, settleable, and no longer refundable.
      const later = now + 1_000
      expect((await ledger.release(id, 'h3', later)).kind).toBe('missing')
      record = (await ledger.get(id))!
      expect(record).toMatchObject({ spent: 20n, held: 10n, units: 2 })
      expect(record.settleVoucher).toEqual(voucher(10n))
      expectInvariants(record, refunded)
      // The refunded headroom pays again.
      expect(await hold(undefined, 'h5', later + 60_000)).toMatchObject({
        kind: 'authorized',
        snapshot: { spent: 30n, units: 3 },
      })
    })

    it('confirms served holds: final and settleable at once, no longer refundable, idempotent', async () => {
      const id = await opened()
      for (const [cum, rid] of [
        [10n, 'c1'],
        [20n, 'c2'],
        [30n, 'c3'],
      ] as const) {
        await ledger.authorize({
          ...base,
          channelId: id,
          voucher: voucher(cum),
          amount: 10n,
          mode: 'hold',
          reservationId: rid,
          expiresAt: now + 60_000,
        })
      }
      const before = (await ledger.get(id))!
      expect(await ledger.confirmHolds(id, ['c1', 'c2', 'nope'], now)).toEqual({
        kind: 'confirmed',
        confirmed: 2,
        settleable: 20n,
      })
      const after = (await ledger.get(id))!
      expect(after).toMatchObject({ spent: 30n, held: 10n, units: 3 })
      expect(after.settleVoucher).toEqual(voucher(20n))
      expectInvariants(after, before)
      // Confirmed holds are final: a release finds nothing; confirming again changes nothing.
      expect((await ledger.release(id, 'c2', now)).kind).toBe('missing')
      expect(await ledger.confirmHolds(id, ['c1', 'c2'], now)).toEqual({
        kind: 'confirmed',
        confirmed: 0,
        settleable: 20n,
      })
      expect(await ledger.confirmHolds(newChannel().channelId, ['c3'], now)).toEqual({
        kind: 'missing',
      })
      // The unconfirmed one is still refundable.
      expect(await ledger.release(id, 'c3', now)).toMatchObject({
        kind: 'released',
        snapshot: { spent: 20n, units: 2 },
      })
    })

    it('voids the id of a hold released before its authorize ran: that authorize charges nothing', async () => {
      const id = await opened()
      // The caller gave up on an authorize (Redis silent) and released its id first.
      expect((await ledger.release(id, 'late', now, now + 60_000)).kind).toBe('missing')
      const before = (await ledger.get(id))!
      const late = await ledger.authorize({
        ...base,
        channelId: id,
        voucher: voucher(10n),
        amount: 10n,
        mode: 'hold',
        reservationId: 'late',
        expiresAt: now + 60_000,
      })
      // The voucher is the payer's signed claim and stays accepted; nothing is charged or held.
      expect(late).toMatchObject({ kind: 'authorized', snapshot: { accepted: 10n, spent: 0n } })
      const after = (await ledger.get(id))!
      expect(after).toMatchObject({ spent: 0n, held: 0n, units: 0, reserved: 0n })
      expectInvariants(after, before)
      // Other requests pay as usual.
      expect(
        await ledger.authorize({
          ...base,
          channelId: id,
          voucher: undefined,
          amount: 10n,
          mode: 'hold',
          reservationId: 'next',
          expiresAt: now + 60_000,
        }),
      ).toMatchObject({ kind: 'authorized', snapshot: { spent: 10n, units: 1 } })
    })

    it('charges at once in commit mode', async () => {
      const id = await opened()
      const r = await ledger.authorize({
        ...base,
        channelId: id,
        voucher: voucher(10n),
        amount: 10n,
        mode: 'commit',
      })
      expect(r).toMatchObject({
        kind: 'authorized',
        snapshot: { spent: 10n, units: 1, reserved: 0n },
      })
      expect((await ledger.get(id))!.settleVoucher).toEqual(voucher(10n))
    })

    it('follows the chain: top-ups, close requests, disappearance', async () => {
      const id = await opened(100n)
      await ledger.syncChain(
        id,
        { deposit: 100n, settled: 0n, closeRequestedAt: 1_700_000_000 },
        now,
      )
      expect(
        (
          await ledger.authorize({
            ...base,
            channelId: id,
            voucher: voucher(10n),
            amount: 0n,
            mode: 'none',
          })
        ).kind,
      ).toBe('closing')
      expect(await ledger.recordTopUp(id, 150n, now)).toMatchObject({
        kind: 'ok',
        channel: { deposit: 150n, closeRequestedAt: 0 },
      })
      expect(
        (
          await ledger.authorize({
            ...base,
            channelId: id,
            voucher: voucher(120n),
            amount: 10n,
            mode: 'commit',
          })
        ).kind,
      ).toBe('authorized')
      await ledger.syncChain(id, { deposit: 150n, settled: 5n, closeRequestedAt: 0 }, now)
      expect((await ledger.get(id))!.settled).toBe(5n)
      await ledger.syncChain(id, { deposit: 150n, settled: 2n, closeRequestedAt: 0 }, now)
      expect((await ledger.get(id))!.settled).toBe(5n)
      await ledger.syncChain(id, { deposit: 0n, settled: 0n, closeRequestedAt: 0 }, now)
      expect((await ledger.get(id))!.status).toBe('finalized')
      expect(
        (
          await ledger.authorize({
            ...base,
            channelId: id,
            voucher: voucher(130n),
            amount: 0n,
            mode: 'none',
          })
        ).kind,
      ).toBe('finalized')
    })

    it('closes: closing stops new charges, in-flight reservations may still commit, finalized stops all', async () => {
      const id = await opened()
      await ledger.authorize({
        ...base,
        channelId: id,
        voucher: voucher(20n),
        amount: 10n,
        mode: 'reserve',
        reservationId: 'f',
        expiresAt: now + 60_000,
      })
      expect((await ledger.markClosing(id, now)).kind).toBe('ok')
      expect(
        (
          await ledger.authorize({
            ...base,
            channelId: id,
            voucher: undefined,
            amount: 10n,
            mode: 'commit',
          })
        ).kind,
      ).toBe('closing')
      expect((await ledger.commit(id, 'f', now)).kind).toBe('committed')
      expect((await ledger.cancelClosing(id, now)).kind).toBe('ok')
      expect((await ledger.get(id))!.status).toBe('open')
      await ledger.markClosing(id, now)
      expect(
        await ledger.finalize(id, { settled: 10n, txHash: `0x${'11'.repeat(32)}` }, now),
      ).toMatchObject({
        kind: 'ok',
        channel: { status: 'finalized', settled: 10n, closeTxHash: `0x${'11'.repeat(32)}` },
      })
      await ledger.authorize({
        ...base,
        channelId: id,
        voucher: undefined,
        amount: 10n,
        mode: 'reserve',
        reservationId: 'g',
        expiresAt: now + 60_000,
      })
      expect((await ledger.commit(id, 'g', now)).kind).not.toBe('committed')
      expect((await ledger.get(id))!.spent).toBe(10n)
    })

    it("finds a payer's channels that are not finalized, most recently used first", async () => {
      counter += 1
      const payer = `0x${counter.toString(16).padStart(4, '0')}${'ab'.repeat(18)}` as Address
      const [older, newer, closed] = [1, 2, 3].map(() => newChannel(1_000n, payer)) as [
        NewChannel,
        NewChannel,
        NewChannel,
      ]
      const other = newChannel(1_000n, '0x2222222222222222222222222222222222222223')
      await ledger.open(older, now)
      await ledger.open(newer, now)
      await ledger.open(closed, now)
      await ledger.open(other, now)
      // A voucher on `newer` makes it the most recently used; `closed` is closed for good.
      await ledger.authorize({
        ...base,
        now: now + 5,
        channelId: newer.channelId,
        voucher: voucher(10n),
        amount: 0n,
        mode: 'none',
      })
      await ledger.finalize(closed.channelId, { settled: 0n, txHash: undefined }, now + 6)
      const ids = (records: { channelId: Hex }[]) => records.map((r) => r.channelId)

      expect(ids(await ledger.channelsOf(payer, 10))).toEqual([newer.channelId, older.channelId])
      expect(ids(await ledger.channelsOf(payer.toUpperCase() as Address, 1))).toEqual([
        newer.channelId,
      ])
      const [found] = await ledger.channelsOf(payer, 1)
      expect(found).toEqual(await ledger.get(newer.channelId))
      expect(await ledger.channelsOf('0x3333333333333333333333333333333333333333', 10)).toEqual([])
      // A re-sent open changes nothing; a closing channel is still listed (it is not finalized).
      await ledger.open(older, now + 7)
      await ledger.markClosing(older.channelId, now + 8)
      expect(ids(await ledger.channelsOf(payer, 10))).toEqual([older.channelId, newer.channelId])
    })

    it('charges exactly once per unit of headroom under concurrency', async () => {
      const id = await opened()
      await ledger.authorize({
        ...base,
        channelId: id,
        voucher: voucher(70n),
        amount: 0n,
        mode: 'none',
      })
      const results = await Promise.all(
        Array.from({ length: 50 }, () =>
          ledger.authorize({
            ...base,
            channelId: id,
            voucher: voucher(70n),
            amount: 10n,
            mode: 'commit',
          }),
        ),
      )
      expect(results.filter((r) => r.kind === 'authorized')).toHaveLength(7)
      expect(results.filter((r) => r.kind === 'insufficient')).toHaveLength(43)
      expect(await ledger.get(id)).toMatchObject({ spent: 70n, units: 7 })
    })

    it('accepts a voucher replayed concurrently exactly once, and racing vouchers settle on the highest', async () => {
      const id = await opened()
      const replays = await Promise.all(
        Array.from({ length: 20 }, () =>
          ledger.authorize({
            ...base,
            channelId: id,
            voucher: voucher(40n),
            amount: 0n,
            mode: 'none',
          }),
        ),
      )
      expect(replays.filter((r) => r.kind === 'authorized' && r.voucher === 'new')).toHaveLength(1)
      expect(replays.filter((r) => r.kind === 'authorized' && r.voucher === 'same')).toHaveLength(
        19,
      )

      const amounts = Array.from({ length: 30 }, (_, i) => 50n + BigInt(i) * 10n).sort(
        () => Math.random() - 0.5,
      )
      const racing = await Promise.all(
        amounts.map((cum) =>
          ledger.authorize({
            ...base,
            channelId: id,
            voucher: voucher(cum),
            amount: 10n,
            mode: 'commit',
          }),
        ),
      )
      const charged = racing.filter((r) => r.kind === 'authorized').length
      const record = (await ledger.get(id))!
      expect(record.accepted).toEqual(voucher(340n))
      expect(record.spent).toBe(BigInt(charged) * 10n)
      expectInvariants(record)
    })

    it('reserves exactly the headroom under concurrency, and resolves each reservation once', async () => {
      const id = await opened()
      await ledger.authorize({
        ...base,
        channelId: id,
        voucher: voucher(70n),
        amount: 0n,
        mode: 'none',
      })
      const reserved = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          ledger.authorize({
            ...base,
            channelId: id,
            voucher: voucher(70n),
            amount: 10n,
            mode: 'reserve',
            reservationId: `c${i}`,
            expiresAt: now + 60_000,
          }),
        ),
      )
      const held = reserved.flatMap((r, i) => (r.kind === 'authorized' ? [`c${i}`] : []))
      expect(held).toHaveLength(7)
      expect(reserved.filter((r) => r.kind === 'insufficient')).toHaveLength(23)
      // Every held reservation is committed twice and released once, all at the same time.
      const resolutions = await Promise.all(
        held.flatMap((rid) => [
          ledger.commit(id, rid, now),
          ledger.release(id, rid, now),
          ledger.commit(id, rid, now),
        ]),
      )
      const committed = resolutions.filter((r) => r.kind === 'committed').length
      const released = resolutions.filter((r) => r.kind === 'released').length
      expect(committed + released).toBe(7)
      expect(resolutions.filter((r) => r.kind === 'missing')).toHaveLength(14)
      const record = (await ledger.get(id))!
      expect(record).toMatchObject({
        spent: BigInt(committed) * 10n,
        units: committed,
        reserved: 0n,
      })
      expectInvariants(record)
    })

    it('retains at most 8 vouchers above spent: settling lags behind the dropped ones', async () => {
      const id = await opened()
      for (let cum = 10n; cum <= 100n; cum += 10n) {
        await ledger.authorize({
          ...base,
          channelId: id,
          voucher: voucher(cum),
          amount: 0n,
          mode: 'none',
        })
      }
      const charge = (amount: bigint) =>
        ledger.authorize({ ...base, channelId: id, voucher: undefined, amount, mode: 'commit' })
      // 10 and 20 were dropped when the 9th and 10th arrived: spending 25 finds no voucher ≤ 25.
      await charge(25n)
      expect((await ledger.get(id))!.settleVoucher).toBeUndefined()
      await charge(5n)
      expect((await ledger.get(id))!.settleVoucher).toEqual(voucher(30n))
      await charge(45n)
      expect((await ledger.get(id))!.settleVoucher).toEqual(voucher(70n))
    })

    it('lets an in-flight reservation be released after the channel was finalized', async () => {
      const id = await opened()
      await ledger.authorize({
        ...base,
        channelId: id,
        voucher: voucher(20n),
        amount: 10n,
        mode: 'reserve',
        reservationId: 'late',
        expiresAt: now + 60_000,
      })
      await ledger.finalize(id, { settled: 0n, txHash: undefined }, now)
      expect((await ledger.release(id, 'late', now + 1)).kind).toBe('released')
      expect(await ledger.get(id)).toMatchObject({ status: 'finalized', reserved: 0n, spent: 0n })
    })

    it('commits part of a reservation and releases the rest in one step', async () => {
      const id = await opened()
      const hold = (reservationId: string, cumulative?: bigint) =>
        ledger.authorize({
          ...base,
          channelId: id,
          voucher: cumulative === undefined ? undefined : voucher(cumulative),
          amount: 50n,
          mode: 'reserve',
          reservationId,
          expiresAt: now + 60_000,
        })
      expect(await hold('m1', 100n)).toMatchObject({ snapshot: { reserved: 50n } })
      expect(await hold('m2')).toMatchObject({ snapshot: { reserved: 100n } })
      // The response priced at 17 of the 50 held: 17 spent, 33 back in the headroom.
      expect(await ledger.commit(id, 'm1', now, 17n)).toMatchObject({
        kind: 'committed',
        snapshot: { accepted: 100n, spent: 17n, units: 1, reserved: 50n },
      })
      // A commit of zero still counts the request; a commit of the whole reservation is allowed.
      expect(await ledger.commit(id, 'm2', now, 0n)).toMatchObject({
        kind: 'committed',
        snapshot: { spent: 17n, units: 2, reserved: 0n },
      })
      expect((await ledger.commit(id, 'm1', now, 1n)).kind).toBe('missing')
      // The released remainder is headroom again: 100 − 17 covers another 50, then 33 is left.
      expect(await hold('m3')).toMatchObject({ kind: 'authorized' })
      expect(await ledger.commit(id, 'm3', now, 50n)).toMatchObject({
        snapshot: { spent: 67n, units: 3, reserved: 0n },
      })
      expect(await hold('m4')).toMatchObject({ kind: 'insufficient', available: 33n })
      expectInvariants((await ledger.get(id))!)
    })

    it('refuses to commit more than was reserved, changing nothing', async () => {
      const id = await opened()
      await ledger.authorize({
        ...base,
        channelId: id,
        voucher: voucher(100n),
        amount: 40n,
        mode: 'reserve',
        reservationId: 'over',
        expiresAt: now + 60_000,
      })
      const before = await ledger.get(id)
      await expect(ledger.commit(id, 'over', now, 41n)).rejects.toThrow(/reservation/)
      await expect(ledger.commit(id, 'over', now, -1n)).rejects.toThrow(/reservation/)
      expect(await ledger.get(id)).toEqual(before)
      expect(await ledger.commit(id, 'over', now, 40n)).toMatchObject({
        snapshot: { spent: 40n, reserved: 0n },
      })
    })

    it('commits part of many reservations in parallel to the exact sum', async () => {
      const id = await opened()
      const ids = Array.from({ length: 20 }, (_, i) => `p${i}`)
      await Promise.all(
        ids.map((reservationId, i) =>
          ledger.authorize({
            ...base,
            channelId: id,
            voucher: voucher(BigInt(i + 1) * 30n),
            amount: 30n,
            mode: 'reserve',
            reservationId,
            expiresAt: now + 60_000,
          }),
        ),
      )
      expect((await ledger.get(id))!.reserved).toBe(600n)
      // Each reservation committed at i and, at the same time, committed again and released.
      const outcomes = await Promise.all(
        ids.flatMap((reservationId, i) => [
          ledger.commit(id, reservationId, now, BigInt(i)),
          ledger.commit(id, reservationId, now, BigInt(i)),
          ledger.release(id, reservationId, now),
        ]),
      )
      const committed = outcomes.filter((o) => o.kind === 'committed').length
      const released = outcomes.filter((o) => o.kind === 'released').length
      expect(committed + released).toBe(20)
      const record = (await ledger.get(id))!
      expect(record.reserved).toBe(0n)
      expect(record.units).toBe(committed)
      // Exactly the parts of the reservations that were committed, each once.
      const expected = ids.reduce((sum, _, i) => {
        const charged = outcomes.slice(3 * i, 3 * i + 2).some((o) => o.kind === 'committed')
        return charged ? sum + BigInt(i) : sum
      }, 0n)
      expect(record.spent).toBe(expected)
      expectInvariants(record)
    })

    it('keeps its invariants over random operation sequences', async () => {
      const op = fc.oneof(
        fc.record({
          t: fc.constant('authorize' as const),
          cum: fc.bigInt({ min: 0n, max: 1_200n }),
          amount: fc.bigInt({ min: 0n, max: 50n }),
          mode: fc.constantFrom('reserve' as const, 'commit' as const, 'none' as const),
          withVoucher: fc.boolean(),
        }),
        fc.record({
          t: fc.constant('commit' as const),
          r: fc.nat({ max: 20 }),
          part: fc.option(fc.bigInt({ min: 0n, max: 50n }), { nil: undefined }),
        }),
        fc.record({ t: fc.constant('release' as const), r: fc.nat({ max: 20 }) }),
        fc.record({
          t: fc.constant('topUp' as const),
          deposit: fc.bigInt({ min: 0n, max: 2_000n }),
        }),
        fc.record({ t: fc.constant('tick' as const), ms: fc.nat({ max: 2_000 }) }),
      )
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 25 }), async (ops) => {
          const id = await opened(1_000n)
          let clock = now
          let reservation = 0
          let previous = (await ledger.get(id))!
          for (const o of ops) {
            switch (o.t) {
              case 'authorize':
                reservation += 1
                await ledger.authorize({
                  minDelta: 0n,
                  now: clock,
                  channelId: id,
                  voucher: o.withVoucher ? voucher(o.cum) : undefined,
                  amount: o.amount,
                  mode: o.mode,
                  reservationId: `r${reservation}`,
                  expiresAt: clock + 1_000,
                })
                break
              case 'commit':
                // A part above the reservation is refused as a defect and changes nothing.
                await ledger.commit(id, `r${o.r}`, clock, o.part).catch((error: unknown) => {
                  expect(String(error)).toMatch(/reservation/)
                })
                break
              case 'release':
                await ledger.release(id, `r${o.r}`, clock)
                break
              case 'topUp':
                await ledger.recordTopUp(id, o.deposit, clock)
                break
              case 'tick':
                clock += o.ms
                break
            }
            const record = (await ledger.get(id))!
            expectInvariants(record, previous)
            previous = record
          }
        }),
        { numRuns: 40 },
      )
    })

    describe('payment claims', () => {
      // Real time: the Redis adapter lets a claim lapse at `expiresAt` on the server's clock.
      const claim = (key: string, owner: string, ttlMs = 60_000) => {
        const at = Date.now()
        return ledger.claimPayment({ key, owner, expiresAt: at + ttlMs, now: at })
      }
      const newKey = () => `0x${randomBytes(32).toString('hex')}`

      it('takes a payment once; a replay is used until the owner releases it', async () => {
        const key = newKey()
        expect(await claim(key, 'a')).toEqual({ kind: 'claimed' })
        expect(await claim(key, 'b')).toEqual({ kind: 'used' })
        expect(await claim(key.toUpperCase().replace('0X', '0x'), 'b')).toEqual({ kind: 'used' })
        await ledger.releasePayment(key, 'b')
        expect(await claim(key, 'c')).toEqual({ kind: 'used' })
        await ledger.releasePayment(key, 'a')
        expect(await claim(key, 'c')).toEqual({ kind: 'claimed' })
      })

      it('a lapsed claim holds nothing', async () => {
        const key = newKey()
        expect(await claim(key, 'a', -1)).toEqual({ kind: 'claimed' })
        expect(await claim(key, 'b')).toEqual({ kind: 'claimed' })
        expect(await claim(key, 'c')).toEqual({ kind: 'used' })
      })

      it('of 20 concurrent claims of one payment exactly one wins', async () => {
        const key = newKey()
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => claim(key, `owner-${i}`)),
        )
        expect(results.filter((r) => r.kind === 'claimed')).toHaveLength(1)
        expect(results.filter((r) => r.kind === 'used')).toHaveLength(19)
      })
    })
  })
}
