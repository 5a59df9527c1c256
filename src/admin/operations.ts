/**
 * The admin operations, free of HTTP: list and inspect channels, settle now, block and unblock a
 * payer (docs/admin.md). `http/admin.ts` maps them onto routes.
 *
 * Every settlement goes through the settler (`settleNow`): the channel's lock, an intent before
 * broadcast, reconciliation — so an operator's "settle now" and the settler's own rounds, on this
 * instance or another, never both write a channel.
 *
 * A block is recorded in the ledger first, so the payer's next open, top-up or voucher is refused
 * on every instance, and only then are its channels settled: a voucher accepted between the two
 * steps is still captured by the settlement that follows, and none can be accepted after it.
 */
import type { Logger } from 'pino'
import type { Address, Hex } from 'viem'
import type { EscrowClient } from '../chain/escrow.js'
import { errorSummary } from '../failure-log.js'
import type { ChannelIndex, LedgerPort } from '../ledger/port.js'
import type { Settler } from '../settlement/settler.js'
import type { SettlementStore } from '../settlement/store.js'
import { blockView, chainView, channelView, settlementView, type ChannelView } from './views.js'

export type AdminDeps = {
  readonly ledger: LedgerPort
  readonly index: ChannelIndex
  readonly store: SettlementStore
  readonly escrow: Pick<EscrowClient, 'readState'>
  readonly settler: Settler
  readonly logger: Logger
  readonly now: () => number
}

/** Most channels one request lists or settles; more are named with `limit`. */
export const maxChannels = 10_000
/** Most channels of one payer settled when it is blocked. */
const maxPayerChannels = 1_000

export type ChannelSelection = 'open' | 'unsettled'

export type AdminOperations = ReturnType<typeof createAdminOperations>

const descending = (x: bigint, y: bigint) => (x === y ? 0 : x > y ? -1 : 1)

/** Largest served exposure first, then largest signed exposure, then by id. */
function byExposure(a: ChannelView, b: ChannelView): number {
  return (
    descending(BigInt(a.exposure.spent), BigInt(b.exposure.spent)) ||
    descending(BigInt(a.exposure.accepted), BigInt(b.exposure.accepted)) ||
    (a.channelId < b.channelId ? -1 : 1)
  )
}

export function createAdminOperations(deps: AdminDeps) {
  const { ledger, index, logger } = deps

  const records = async (ids: readonly Hex[]) =>
    (await Promise.all(ids.map((id) => ledger.get(id)))).filter((r) => r !== undefined)

  const totals = (views: readonly ChannelView[]) => ({
    count: views.length,
    exposure: {
      spent: views.reduce((sum, v) => sum + BigInt(v.exposure.spent), 0n).toString(),
      accepted: views.reduce((sum, v) => sum + BigInt(v.exposure.accepted), 0n).toString(),
    },
  })

  /** Channel ids that may have value to settle (the index is a hint; settleNow reads each record). */
  const unsettledIds = async (limit: number) =>
    (await index.unsettled(limit)).map(({ channelId }) => channelId)

  const settle = async (ids: readonly Hex[], why: string) => {
    logger.info({ channels: ids.length, why }, 'admin: settling now')
    const results = await deps.settler.settleNow(ids)
    return results.map(settlementView)
  }

  return {
    /** Channels not finalized (`open`) or with value not settled (`unsettled`), largest exposure first. */
    async listChannels(options: { selection: ChannelSelection; limit: number }) {
      const ids =
        options.selection === 'open'
          ? await index.open(options.limit)
          : await unsettledIds(options.limit)
      const views = (await records(ids))
        .filter((r) => r.status !== 'finalized')
        .filter((r) => options.selection === 'open' || r.spent > r.settled)
        .map(channelView)
        .sort(byExposure)
      return { selection: options.selection, ...totals(views), channels: views }
    },

    /** One channel: the ledger's figures, the chain's, the pending settlement and the payer's block. */
    async inspectChannel(channelId: Hex) {
      const record = await ledger.get(channelId)
      if (!record) return undefined
      const [chain, intent, block] = await Promise.all([
        deps.escrow.readState(record.channelId).then(
          (state) => ({ ok: true as const, state }),
          (error: unknown) => ({ ok: false as const, error: errorSummary(error) }),
        ),
        deps.store.intent(record.channelId),
        ledger.blocks.get(record.descriptor.payer),
      ])
      return {
        ...channelView(record),
        chain: chain.ok ? chainView(chain.state) : null,
        ...(chain.ok ? {} : { chainError: chain.error }),
        pendingSettlement: intent
          ? {
              kind: intent.kind,
              txHash: intent.txHash,
              cumulative: intent.cumulative.toString(),
              capture: intent.capture?.toString() ?? null,
              createdAt: new Date(intent.createdAt).toISOString(),
            }
          : null,
        payerBlocked: block ? blockView(block) : null,
      }
    },

    /** Settles one channel now; undefined when the ledger does not know it. */
    async settleChannel(channelId: Hex) {
      const record = await ledger.get(channelId)
      if (!record) return undefined
      const [result] = await settle([record.channelId], 'one channel')
      return result
    },

    /** Settles every channel with value not settled (up to `limit`). */
    async settleAll(limit: number) {
      const settlements = await settle(await unsettledIds(limit), 'all channels')
      return { count: settlements.length, settlements }
    },

    /** Blocks `payer` on every instance, then settles its channels at once. */
    async blockPayer(payer: Address, reason: string | undefined) {
      const outcome = await ledger.blocks.block(payer, { since: deps.now(), reason })
      logger.info({ payer: outcome.block.payer, kind: outcome.kind }, 'admin: payer blocked')
      const channels = await ledger.channelsOf(payer, maxPayerChannels)
      const settlements = await settle(
        channels.map((c) => c.channelId),
        'payer blocked',
      )
      return {
        ...blockView(outcome.block),
        blocked: true,
        already: outcome.kind === 'already',
        settlements,
      }
    },

    async unblockPayer(payer: Address) {
      const lifted = await ledger.blocks.unblock(payer)
      logger.info({ payer: payer.toLowerCase(), lifted }, 'admin: payer unblocked')
      return { payer: payer.toLowerCase(), blocked: false, lifted }
    },

    /** A payer's block (if any) and its channels that are not finalized. */
    async payer(payer: Address) {
      const [block, channels] = await Promise.all([
        ledger.blocks.get(payer),
        ledger.channelsOf(payer, maxPayerChannels),
      ])
      return {
        payer: payer.toLowerCase(),
        blocked: block ? blockView(block) : null,
        channels: channels.map(channelView),
      }
    },

    async blockedPayers(limit: number) {
      const blocks = await ledger.blocks.list(limit)
      return { count: blocks.length, payers: blocks.map(blockView) }
    },
  }
}
