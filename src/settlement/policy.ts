/**
 * When a channel is due for settlement, as a pure function of its ledger record.
 *
 * Only value that was served can be settled: `settle` claims a voucher's cumulative amount
 * exactly, so the voucher submitted is the ledger's settle voucher — the highest accepted voucher
 * whose cumulative amount is ≤ `spent` (src/ledger/transitions.ts keeps it). Value a payer
 * authorized but was never served (uncharged failures) is never captured.
 *
 * A channel is due when its unsettled spent value reaches the amount threshold, when it has been
 * unsettled for longer than the maximum age, when its accepted value nears the deposit (the payer
 * is about to top up or leave), immediately when the payer requested a forced close (the grace
 * period is the payee's only window), on shutdown when configured, and whenever an operator asks
 * (admin API) — then whatever the settle voucher covers, however small.
 *
 * Why a forced close is answered with `close` when the settle voucher lags: after an uncharged
 * failure the payer's vouchers stay one released price ahead of `spent` (docs/DESIGN.md), so no
 * accepted voucher may equal what was served and `settle` could capture only up to an older one.
 * `close(voucher, capture = spent)` captures exactly `spent` with the highest voucher and refunds
 * the rest — the end the payer asked for, minus the grace period — so a forced close never takes
 * served value away.
 */
import { settleableOf, type ChannelRecord, type SignedVoucher } from '../ledger/port.js'

export type SettlementPolicy = {
  readonly amountThreshold: bigint
  readonly maxUnsettledMs: number
  /** Accepted value, as a percentage of the deposit, at which a channel is settled. */
  readonly depositPercent: number
}

export type SettleReason =
  'amount' | 'age' | 'deposit' | 'close-requested' | 'shutdown' | 'requested'

export type SettlementDecision =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'settle'
      readonly voucher: SignedVoucher
      readonly reason: SettleReason
      readonly amount: bigint
    }
  /** Close the channel with `voucher`, capturing exactly `capture` (a forced close is pending). */
  | {
      readonly kind: 'close'
      readonly voucher: SignedVoucher
      readonly capture: bigint
      readonly reason: 'close-requested'
      readonly amount: bigint
    }

export function settlementDue(
  record: ChannelRecord,
  options: {
    policy: SettlementPolicy
    now: number
    /** When the channel was first seen with unsettled value (ms), if known. */
    unsettledSince: number | undefined
    shuttingDown?: boolean
    /** An operator asked for this channel to be settled now (admin API). */
    requested?: boolean
  },
): SettlementDecision {
  const { policy } = options
  const voucher = record.settleVoucher
  const amount = settleableOf(record)
  if (record.status === 'finalized') return { kind: 'none' }
  if (record.closeRequestedAt !== 0 && voucher?.cumulative !== record.spent) {
    const capture = record.spent > record.settled ? record.spent : record.settled
    if (capture === record.settled) return { kind: 'none' }
    return {
      kind: 'close',
      voucher: record.accepted,
      capture,
      reason: 'close-requested',
      amount: capture - record.settled,
    }
  }
  if (!voucher || amount === 0n) return { kind: 'none' }
  const settle = (reason: SettleReason): SettlementDecision => ({
    kind: 'settle',
    voucher,
    reason,
    amount,
  })

  if (record.closeRequestedAt !== 0) return settle('close-requested')
  if (options.shuttingDown) return settle('shutdown')
  if (options.requested) return settle('requested')
  if (amount >= policy.amountThreshold) return settle('amount')
  if (
    record.deposit > 0n &&
    record.accepted.cumulative * 100n >= record.deposit * BigInt(policy.depositPercent)
  ) {
    return settle('deposit')
  }
  if (
    options.unsettledSince !== undefined &&
    options.now - options.unsettledSince >= policy.maxUnsettledMs
  ) {
    return settle('age')
  }
  return { kind: 'none' }
}
