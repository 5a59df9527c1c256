/**
 * What the payee stands to lose right now: every channel with value spent (served and charged) but
 * not yet settled on chain, largest first, with the end of the forced-close grace period where a
 * payer has started one. `mpp-gateway channels` prints it. It reads the ledger only: the figures
 * are the ledger's, which follows the chain through the close watcher.
 */
import type { Address, Hex } from 'viem'
import { closeGracePeriodSeconds } from '../chain/escrow-abi.js'
import type { ChannelIndex, ChannelStatus, LedgerPort } from '../ledger/port.js'

/** One channel, amounts in base units. */
export type ExposedChannel = {
  readonly channelId: Hex
  readonly payer: Address
  readonly status: ChannelStatus
  readonly deposit: bigint
  readonly accepted: bigint
  readonly spent: bigint
  readonly settled: bigint
  /** spent − settled: what a forced close would hand back to the payer if never settled. */
  readonly unsettled: bigint
  /** Milliseconds since the epoch at which a forced close can be withdrawn; undefined if none. */
  readonly graceEndsAt: number | undefined
}

export async function unsettledChannels(
  ledger: LedgerPort,
  index: ChannelIndex,
  limit: number,
): Promise<ExposedChannel[]> {
  const candidates = await index.unsettled(limit)
  const rows: ExposedChannel[] = []
  for (const { channelId } of candidates) {
    const record = await ledger.get(channelId)
    // The index is a hint: a channel may have been settled or finalized since it was listed.
    if (!record || record.status === 'finalized' || record.spent <= record.settled) continue
    rows.push({
      channelId: record.channelId,
      payer: record.descriptor.payer,
      status: record.status,
      deposit: record.deposit,
      accepted: record.accepted.cumulative,
      spent: record.spent,
      settled: record.settled,
      unsettled: record.spent - record.settled,
      graceEndsAt:
        record.closeRequestedAt === 0
          ? undefined
          : (record.closeRequestedAt + Number(closeGracePeriodSeconds)) * 1000,
    })
  }
  return rows.sort((a, b) => (a.unsettled === b.unsettled ? 0 : a.unsettled > b.unsettled ? -1 : 1))
}

/**
 * The sum of {@link unsettledChannels}: the figure `mpp-gateway channels` prints as its total and
 * the metrics report as the unsettled exposure, in base units.
 */
export async function unsettledTotal(
  ledger: LedgerPort,
  index: ChannelIndex,
  limit: number,
): Promise<{ readonly total: bigint; readonly channels: number }> {
  const rows = await unsettledChannels(ledger, index, limit)
  return { total: rows.reduce((sum, row) => sum + row.unsettled, 0n), channels: rows.length }
}
