/**
 * Submitting the gateway's own escrow transactions (`settle`, `close`) so that crashes and RPC
 * failures can never lose money or pay twice:
 *
 *   sign → persist intent (fenced) → broadcast → wait for receipt → verify events + read back
 *   → record in the ledger → clear intent
 *
 * A broadcast or receipt failure leaves the intent in place: the outcome is unknown and is
 * reconciled from the chain (receipt by hash), never by sending a different transaction. While the
 * transaction can still land (before its `validBefore`) the same bytes may be broadcast again;
 * after it, an absent receipt proves it never will, and only then is the intent dropped. Recording
 * is idempotent (settled amounts only grow), so a crash between the receipt and the ledger write
 * is repaired by recording again.
 */
import type { Logger } from 'pino'
import type { Metrics } from '../http/metrics.js'
import type { Hex, TransactionReceipt } from 'viem'
import type { EscrowClient, EscrowWrite } from '../chain/escrow.js'
import type { LedgerPort } from '../ledger/port.js'
import { errorSummary } from '../failure-log.js'
import type { Lease, SettlementIntent, SettlementStore } from './store.js'

export type SubmitContext = {
  readonly escrow: EscrowClient
  readonly store: SettlementStore
  readonly ledger: LedgerPort
  readonly logger: Logger
  readonly now: () => number
  /** Longest wait for a receipt before the outcome counts as unknown. */
  readonly receiptTimeoutMs: number
  /** Counts the transactions that landed and every attempt (the gateway's Prometheus metrics). */
  readonly metrics?: Pick<Metrics, 'settlement' | 'settlementAttempt'>
}

export type SubmitOutcome =
  | {
      readonly kind: 'confirmed'
      readonly intent: SettlementIntent
      readonly receipt: TransactionReceipt
      readonly settled: bigint
    }
  /**
   * Reverted, or landed without effect on the channel (its receipt lacks the event and the chain
   * state shows nothing of it): the intent was cleared, a new transaction may be planned.
   */
  | {
      readonly kind: 'reverted'
      readonly intent: SettlementIntent
      readonly receipt: TransactionReceipt
    }
  /** Sent or maybe sent, no receipt yet: the intent stays for reconciliation. */
  | { readonly kind: 'pending'; readonly intent: SettlementIntent; readonly error: unknown }
  /** The transaction provably never landed (expired unincluded); the intent was dropped. */
  | { readonly kind: 'expired'; readonly intent: SettlementIntent }
  /** Another instance holds the channel now; nothing was sent. */
  | { readonly kind: 'lost-lease' }

/**
 * Applies a successful receipt to the ledger and clears the intent. Returns the amount now settled
 * for the payee, read from the escrow's own event in this receipt (logs of the escrow address
 * naming this channel), or undefined when the transaction changed nothing (then the intent is
 * cleared: the same bytes can never land twice).
 *
 * Why a receipt without the event is checked against chain state rather than retried: the receipt
 * is the one of this exact hash (receipts.ts), so a missing event is not a misread; it is what the
 * transaction did. The channel's state on chain says whether the value is there anyway (another
 * settlement or close got there first) — then it is recorded as it stands — or not — then the
 * settlement simply did not happen and a new one may be planned. Either way the intent is done
 * with; nothing is left for a human, nothing is retried blindly.
 */
async function record(
  ctx: SubmitContext,
  intent: SettlementIntent,
  receipt: TransactionReceipt,
): Promise<bigint | undefined> {
  const now = ctx.now()
  if (intent.kind === 'settle') {
    const [event] = ctx.escrow.events(receipt, 'Settled', intent.channelId)
    // The latest state, not the receipt block's: a node that prunes history may no longer have it,
    // and every figure folded in only grows (or finalizes a channel that is gone).
    const state = await ctx.escrow.readState(intent.channelId)
    await ctx.ledger.syncChain(intent.channelId, state, now)
    await ctx.store.clearIntent(intent.channelId, intent.txHash)
    if (event && event.args.newSettled === intent.cumulative) return event.args.newSettled
    ctx.logger.warn(
      {
        channelId: intent.channelId,
        txHash: intent.txHash,
        settledOnChain: state.settled.toString(),
        cumulative: intent.cumulative.toString(),
      },
      'settle transaction carried no Settled event for its channel; recorded the chain state',
    )
    return state.settled >= intent.cumulative ? state.settled : undefined
  }
  const [event] = ctx.escrow.events(receipt, 'ChannelClosed', intent.channelId)
  let settled = event?.args.settledToPayee
  if (settled === undefined) {
    const state = await ctx.escrow.readState(intent.channelId)
    ctx.logger.warn(
      { channelId: intent.channelId, txHash: intent.txHash, depositOnChain: `${state.deposit}` },
      'close transaction carried no ChannelClosed event for its channel; checked the chain state',
    )
    if (state.deposit !== 0n) {
      // Still open on chain: this close did nothing. Fold the state in and let the caller decide.
      await ctx.ledger.syncChain(intent.channelId, state, now)
      await ctx.store.clearIntent(intent.channelId, intent.txHash)
      return undefined
    }
    // Gone from chain after a successful close of ours: only this transaction can have closed it
    // (a close of a channel already gone reverts), so it captured what it asked for.
    settled = intent.capture ?? intent.cumulative
  }
  await ctx.ledger.finalize(intent.channelId, { settled, txHash: receipt.transactionHash }, now)
  await ctx.store.clearIntent(intent.channelId, intent.txHash)
  return settled
}

async function outcomeOf(
  ctx: SubmitContext,
  intent: SettlementIntent,
  receipt: TransactionReceipt,
): Promise<SubmitOutcome> {
  if (receipt.status !== 'success') {
    await ctx.store.clearIntent(intent.channelId, intent.txHash)
    ctx.metrics?.settlement(intent.kind, 'reverted')
    return { kind: 'reverted', intent, receipt }
  }
  const settled = await record(ctx, intent, receipt)
  if (settled === undefined) {
    // Landed without effect on the channel (and the intent is cleared): a failed attempt.
    ctx.metrics?.settlement(intent.kind, 'reverted')
    return { kind: 'reverted', intent, receipt }
  }
  ctx.logger.info(
    {
      channelId: intent.channelId,
      kind: intent.kind,
      amount: settled.toString(),
      txHash: intent.txHash,
    },
    intent.kind === 'settle' ? 'channel settled' : 'channel closed',
  )
  ctx.metrics?.settlement(intent.kind, 'confirmed')
  return { kind: 'confirmed', intent, receipt, settled }
}

/** Broadcasts the intent's bytes (again) and waits, bounded by the transaction's own expiry. */
async function broadcastAndWait(
  ctx: SubmitContext,
  intent: SettlementIntent,
): Promise<SubmitOutcome> {
  try {
    await ctx.escrow.sendRaw(intent.rawTransaction)
  } catch (error) {
    // "already known", a time-out after the node took it, or a real refusal: the receipt decides.
    ctx.logger.warn(
      { error: errorSummary(error), channelId: intent.channelId, txHash: intent.txHash },
      'broadcast failed; outcome unknown',
    )
  }
  try {
    const receipt = await ctx.escrow.waitForReceipt(intent.txHash, ctx.receiptTimeoutMs)
    return await outcomeOf(ctx, intent, receipt)
  } catch (error) {
    return { kind: 'pending', intent, error }
  }
}

/** Signs `call`, records the intent under `lease`, broadcasts and waits for the outcome. */
export async function submit(
  ctx: SubmitContext,
  lease: Lease,
  call: EscrowWrite,
): Promise<SubmitOutcome> {
  const signed = await ctx.escrow.signWrite(call)
  const intent: SettlementIntent = {
    channelId: lease.channelId,
    kind: call.functionName,
    cumulative: call.cumulative,
    capture: call.functionName === 'close' ? call.capture : undefined,
    txHash: signed.hash,
    rawTransaction: signed.rawTransaction,
    validBefore: signed.validBefore,
    fence: lease.fence,
    createdAt: ctx.now(),
  }
  if (!(await ctx.store.saveIntent(lease, intent))) return { kind: 'lost-lease' }
  return broadcastAndWait(ctx, intent)
}

/**
 * Looks once at a channel's pending intent without sending anything: included (recorded now),
 * expired unincluded (dropped), or still able to land (`pending`, with no error).
 */
export async function inspect(
  ctx: SubmitContext,
  channelId: Hex,
): Promise<SubmitOutcome | undefined> {
  const intent = await ctx.store.intent(channelId)
  if (!intent) return undefined
  const receipt = await ctx.escrow.receipt(intent.txHash)
  if (receipt) return outcomeOf(ctx, intent, receipt)
  if ((await ctx.escrow.chainTime()) < intent.validBefore) {
    return { kind: 'pending', intent, error: undefined }
  }
  // Past validBefore: look once more (a block could have landed meanwhile), then drop it.
  const late = await ctx.escrow.receipt(intent.txHash)
  if (late) return outcomeOf(ctx, intent, late)
  await ctx.store.clearIntent(channelId, intent.txHash)
  ctx.logger.warn(
    { channelId, txHash: intent.txHash },
    'escrow transaction expired without being included',
  )
  return { kind: 'expired', intent }
}

/**
 * Finds out what became of a channel's pending intent: included (record it), still able to land
 * (broadcast the same bytes again and wait), or expired unincluded (drop it).
 */
export async function reconcile(
  ctx: SubmitContext,
  channelId: Hex,
): Promise<SubmitOutcome | undefined> {
  const seen = await inspect(ctx, channelId)
  return seen?.kind === 'pending' ? broadcastAndWait(ctx, seen.intent) : seen
}
