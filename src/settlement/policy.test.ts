import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { ChannelRecord } from '../ledger/port.js'
import { settlementDue, type SettlementPolicy } from './policy.js'

const policy: SettlementPolicy = {
  amountThreshold: 1_000n,
  maxUnsettledMs: 60_000,
  depositPercent: 90,
}
const voucher = (cumulative: bigint) => ({ cumulative, signature: `0x${'11'.repeat(65)}` as const })

function record(overrides: Partial<ChannelRecord> = {}): ChannelRecord {
  return {
    channelId: `0x${'aa'.repeat(32)}`,
    chainId: 31337,
    escrow: '0x4d50500000000000000000000000000000000000',
    descriptor: {
      payer: '0x1111111111111111111111111111111111111111',
      payee: '0x2222222222222222222222222222222222222222',
      operator: '0x0000000000000000000000000000000000000000',
      token: '0x20c0000000000000000000000000000000000000',
      salt: `0x${'01'.repeat(32)}`,
      authorizedSigner: '0x0000000000000000000000000000000000000000',
      expiringNonceHash: `0x${'02'.repeat(32)}`,
    },
    deposit: 10_000n,
    settled: 0n,
    closeRequestedAt: 0,
    status: 'open',
    held: 0n,
    accepted: voucher(500n),
    settleVoucher: voucher(500n),
    spent: 500n,
    units: 5,
    reserved: 0n,
    closeTxHash: undefined,
    updatedAt: 0,
    ...overrides,
  }
}

const due = (
  r: ChannelRecord,
  extra: { unsettledSince?: number; shuttingDown?: boolean; requested?: boolean } = {},
) =>
  settlementDue(r, {
    policy,
    now: 100_000,
    unsettledSince: extra.unsettledSince,
    shuttingDown: extra.shuttingDown ?? false,
    requested: extra.requested ?? false,
  })

describe('settlement policy', () => {
  it('waits while the unsettled value is small, young and far from the deposit', () => {
    expect(due(record())).toEqual({ kind: 'none' })
    expect(due(record(), { unsettledSince: 50_000 })).toEqual({ kind: 'none' })
  })

  it('settles on amount, age, nearing the deposit, a close request, and shutdown', () => {
    expect(
      due(record({ settleVoucher: voucher(1_000n), spent: 1_000n, accepted: voucher(1_000n) })),
    ).toMatchObject({ kind: 'settle', reason: 'amount', amount: 1_000n })
    expect(due(record(), { unsettledSince: 40_000 })).toMatchObject({
      kind: 'settle',
      reason: 'age',
    })
    expect(due(record({ accepted: voucher(9_000n) }))).toMatchObject({
      kind: 'settle',
      reason: 'deposit',
    })
    expect(due(record({ closeRequestedAt: 1_700_000_000 }))).toMatchObject({
      kind: 'settle',
      reason: 'close-requested',
      amount: 500n,
    })
    expect(due(record(), { shuttingDown: true })).toMatchObject({
      kind: 'settle',
      reason: 'shutdown',
    })
  })

  it('settles whatever the settle voucher covers when an operator asks, and nothing more', () => {
    expect(due(record(), { requested: true })).toMatchObject({
      kind: 'settle',
      reason: 'requested',
      amount: 500n,
    })
    expect(due(record({ settled: 500n }), { requested: true })).toEqual({ kind: 'none' })
    expect(due(record({ status: 'finalized' }), { requested: true })).toEqual({ kind: 'none' })
  })

  it('never settles what is already settled, or a finalized channel', () => {
    expect(due(record({ settled: 500n, closeRequestedAt: 1 }))).toEqual({ kind: 'none' })
    expect(due(record({ status: 'finalized', closeRequestedAt: 1 }))).toEqual({ kind: 'none' })
    expect(
      due(
        record({ settleVoucher: undefined, spent: 0n, accepted: voucher(0n), closeRequestedAt: 1 }),
      ),
    ).toEqual({ kind: 'none' })
  })

  it('answers a forced close with a close at exactly spent when no voucher equals spent', () => {
    // After an uncharged failure the accepted voucher is a released price ahead of spent.
    const lagging = record({ accepted: voucher(800n), settleVoucher: voucher(300n), spent: 500n })
    expect(due(lagging)).toEqual({ kind: 'none' })
    expect(due({ ...lagging, closeRequestedAt: 1 })).toEqual({
      kind: 'close',
      voucher: voucher(800n),
      capture: 500n,
      reason: 'close-requested',
      amount: 500n,
    })
    expect(
      due(record({ settleVoucher: undefined, settled: 200n, closeRequestedAt: 1 })),
    ).toMatchObject({ kind: 'close', capture: 500n, amount: 300n })
  })

  it('only ever submits the settle voucher: never above spent, always above settled', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10_000n }),
        fc.bigInt({ min: 0n, max: 10_000n }),
        fc.bigInt({ min: 0n, max: 10_000n }),
        fc.boolean(),
        (spent, settleCum, settled, closing) => {
          fc.pre(settleCum <= spent)
          const r = record({
            spent,
            accepted: voucher(spent + 100n),
            settleVoucher: voucher(settleCum),
            settled,
            closeRequestedAt: closing ? 1 : 0,
          })
          const decision = due(r, { shuttingDown: true })
          if (decision.kind === 'settle') {
            expect(decision.voucher.cumulative).toBeLessThanOrEqual(spent)
            expect(decision.voucher.cumulative).toBeGreaterThan(settled)
            expect(decision.amount).toBe(settleCum - settled)
          } else if (decision.kind === 'close') {
            // Only for a forced close, capturing exactly what was served.
            expect(closing && settleCum !== spent).toBe(true)
            expect(decision.capture).toBe(spent)
            expect(decision.capture).toBeGreaterThan(settled)
            expect(decision.voucher.cumulative).toBeGreaterThanOrEqual(decision.capture)
          } else {
            expect(closing && settleCum !== spent ? spent : settleCum).toBeLessThanOrEqual(settled)
          }
        },
      ),
    )
  })
})
