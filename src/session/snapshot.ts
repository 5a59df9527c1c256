/**
 * Which channel the gateway shows a client as its session snapshot, and with which figures.
 *
 * A channel is shown only when a client could continue on it under this gateway's terms: the
 * ledger holds it open (not closing, not finalized), no forced close is pending, it names this
 * gateway's chain, escrow, payee and currency, and it has an accepted voucher (the snapshot
 * carries that voucher's signature, which is what the client checks before it trusts the rest).
 * The figures are the ledger's, never a client's claim.
 */
import type { ChannelRecord } from '../ledger/port.js'
import type { Terms } from '../pricing/terms.js'
import type { SessionSnapshot } from '../protocol/session-snapshot.js'

/** Whether a client may be shown `record` to continue on it (see the module header). */
export function isRecoverable(record: ChannelRecord, terms: Terms): boolean {
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()
  return (
    record.status === 'open' &&
    record.closeRequestedAt === 0 &&
    record.chainId === terms.chainId &&
    same(record.escrow, terms.escrow) &&
    same(record.descriptor.payee, terms.recipient) &&
    same(record.descriptor.token, terms.currency) &&
    record.accepted.cumulative > 0n &&
    record.accepted.signature !== '0x'
  )
}

/**
 * The snapshot of a recoverable channel record (see {@link isRecoverable}, which callers check
 * first). `required` is the cumulative amount the client's next voucher must reach: `spent` plus
 * whatever is held and the price of the request being answered (nothing, for a recovery answer).
 */
export function snapshotOf(record: ChannelRecord, required: bigint): SessionSnapshot {
  const { accepted, descriptor: d } = record
  return {
    acceptedCumulative: accepted.cumulative.toString(),
    chainId: record.chainId,
    channelId: record.channelId,
    deposit: record.deposit.toString(),
    descriptor: {
      authorizedSigner: d.authorizedSigner,
      expiringNonceHash: d.expiringNonceHash,
      operator: d.operator,
      payee: d.payee,
      payer: d.payer,
      salt: d.salt,
      token: d.token,
    },
    escrow: record.escrow,
    highestVoucher: {
      channelId: record.channelId,
      cumulativeAmount: accepted.cumulative.toString(),
      signature: accepted.signature,
    },
    requiredCumulative: required.toString(),
    settled: record.settled.toString(),
    spent: record.spent.toString(),
    units: record.units,
  }
}
