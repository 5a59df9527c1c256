/**
 * What the admin API shows of a channel, a block and a settlement: JSON-ready plain data, amounts
 * as base-unit decimal strings (never a `number`), times as ISO 8601 or null.
 *
 * Exposure is what the payee stands to lose if nothing more were settled: `spent − settled`
 * (value served and charged) and `accepted − settled` (value the payer signed over, part of it
 * perhaps never served). A forced close hands everything not settled back to the payer when its
 * grace period ends: that moment is `forcedCloseDeadline`.
 */
import { closeGracePeriodSeconds } from '../chain/escrow-abi.js'
import type { ChainState, ChannelRecord, PayerBlock } from '../ledger/port.js'
import type { ChannelSettlement } from '../settlement/settler.js'

const iso = (ms: number) => new Date(ms).toISOString()
const above = (a: bigint, b: bigint) => (a > b ? a - b : 0n)

/** When a forced close requested at `closeRequestedAt` (unix s, 0: none) can be withdrawn. */
export function forcedCloseDeadline(closeRequestedAt: number): string | null {
  return closeRequestedAt === 0
    ? null
    : iso((closeRequestedAt + Number(closeGracePeriodSeconds)) * 1000)
}

export type ChannelView = ReturnType<typeof channelView>

export function channelView(record: ChannelRecord) {
  return {
    channelId: record.channelId,
    payer: record.descriptor.payer,
    status: record.status,
    deposit: record.deposit.toString(),
    accepted: record.accepted.cumulative.toString(),
    spent: record.spent.toString(),
    reserved: record.reserved.toString(),
    settled: record.settled.toString(),
    units: record.units,
    /** The voucher a settlement would submit now (≤ spent). */
    settleable: (record.settleVoucher?.cumulative ?? 0n).toString(),
    exposure: {
      spent: above(record.spent, record.settled).toString(),
      accepted: above(record.accepted.cumulative, record.settled).toString(),
    },
    closeRequestedAt: record.closeRequestedAt === 0 ? null : iso(record.closeRequestedAt * 1000),
    forcedCloseDeadline: forcedCloseDeadline(record.closeRequestedAt),
    closeTxHash: record.closeTxHash ?? null,
    updatedAt: iso(record.updatedAt),
  }
}

export function chainView(state: ChainState) {
  return {
    deposit: state.deposit.toString(),
    settled: state.settled.toString(),
    closeRequestedAt: state.closeRequestedAt === 0 ? null : iso(state.closeRequestedAt * 1000),
    forcedCloseDeadline: forcedCloseDeadline(state.closeRequestedAt),
    open: state.deposit > 0n,
  }
}

export function blockView(block: PayerBlock) {
  return { payer: block.payer, since: iso(block.since), reason: block.reason ?? null }
}

export function settlementView(result: ChannelSettlement) {
  switch (result.kind) {
    case 'settled':
      return {
        ...result,
        cumulative: result.cumulative.toString(),
        settled: result.settled.toString(),
      }
    case 'nothing-due':
    case 'busy':
    case 'pending':
    case 'failed':
      return result
  }
}
