/**
 * The cooperative `close` action: the payer's final voucher, and the gateway submits
 * `close(descriptor, cumulative, capture, signature)` itself, paying the fee.
 *
 * The capture is exactly what was served — `max(spent, settled on chain)` — never the voucher's
 * cumulative amount, which may include value the payer authorized but never received (failed,
 * uncharged requests).
 *
 * Why a close is never refused for a low voucher: a client that lost answers (or rolled its
 * voucher back) may sign its close below what it was charged. Its signature still proves the
 * payer asks to close; the ledger holds a higher voucher of the same payer, which covers the
 * capture. Refusing would leave the whole deposit locked until a forced close (15 minutes), so
 * the close goes through with the stored voucher and the payer gets `deposit − capture` back, the
 * same refund a close at exactly `spent` would give.
 *
 * A settlement in flight never makes a close fail: the close waits for the channel's lock (bounded
 * by the lock's TTL) and supersedes a settle still undecided (see below). Before reading `spent`
 * the channel is marked closing (no new charges) and
 * in-flight reservations get a short, bounded time to resolve. The transaction goes through the
 * settlement machinery (lock, intent persisted before broadcast, reconciliation), so a crash or an
 * RPC failure mid-close is recovered by the settler, never doubled. If the transaction fails, the
 * channel opens again; if it succeeds, the channel is finalized with the figures the chain emitted.
 */
import { randomUUID } from 'node:crypto'
import type { Hex } from 'viem'
import { GatewayError } from '../errors.js'
import type { ChannelRecord, ChannelSnapshot } from '../ledger/port.js'
import { snapshotOf } from '../ledger/port.js'
import type { Lease } from '../settlement/store.js'
import { inspect, reconcile, submit } from '../settlement/submit.js'
import type { SessionContext } from './context.js'
import type { VoucherPayload } from './payload.js'
import { knownChannel } from './known-channel.js'
import { assertVoucherSignature } from './voucher-check.js'

/** How long a close waits for in-flight paid requests on the channel to resolve. */
const drainTimeoutMs = 3_000

async function drained(ctx: SessionContext, channelId: Hex): Promise<ChannelRecord> {
  const deadline = ctx.now() + drainTimeoutMs
  for (;;) {
    const record = await ctx.ledger.get(channelId)
    if (!record)
      throw new GatewayError('channel-not-found', 'No open channel with this id is known.')
    if (record.reserved === 0n || ctx.now() >= deadline) return record
    await new Promise((r) => setTimeout(r, 25))
  }
}

export async function closeChannel(
  ctx: SessionContext,
  input: { payload: VoucherPayload; source: string | undefined },
): Promise<{ snapshot: ChannelSnapshot; txHash: Hex; voucherAmount: bigint }> {
  const { payload } = input
  const channelId = payload.channelId
  const cumulative = payload.cumulativeAmount
  const known = await knownChannel(ctx, {
    channelId,
    descriptor: payload.descriptor,
    source: input.source,
  })
  assertVoucherSignature({
    verifier: ctx.vouchers,
    channelId,
    descriptor: known.descriptor,
    cumulative,
    signature: payload.signature,
  })

  const state = await ctx.chainState.refresh(channelId).catch((error: unknown) => {
    throw new GatewayError('chain-unavailable', 'The chain could not be read.', {
      cause: error,
      retryAfter: 2,
    })
  })
  if (state.deposit === 0n) throw new GatewayError('channel-finalized', 'The channel is closed.')
  if (state.closeRequestedAt !== 0) {
    throw new GatewayError('channel-finalized', 'The channel has a pending forced close.')
  }
  const lease = await acquire(ctx, channelId)
  try {
    // A transaction of this channel may be in flight or undecided. Why a pending `settle` is
    // superseded rather than waited for: the close captures max(spent, settled) ≥ any settle
    // voucher (≤ spent), so it lands whether the settle lands before it, after it (then the settle
    // reverts) or never; the close's intent replaces the settle's. A pending `close` (an earlier
    // attempt) is waited for instead: two closes would race, and the first already does the job.
    let pending = await inspect(ctx.settlement.submit, channelId)
    if (pending?.kind === 'pending' && pending.intent.kind === 'close') {
      pending = await reconcile(ctx.settlement.submit, channelId)
      if (pending?.kind === 'pending') throw busy(pending.intent.txHash)
    }
    if (pending?.kind === 'confirmed' && pending.intent.kind === 'close') {
      // An earlier close of this channel landed: that is this close's answer.
      const final = await ctx.ledger.get(channelId)
      if (final) {
        return {
          snapshot: snapshotOf(final),
          txHash: pending.receipt.transactionHash,
          voucherAmount: pending.intent.cumulative,
        }
      }
    }

    const marked = await ctx.ledger.markClosing(channelId, ctx.now())
    if (marked.kind !== 'ok') throw new GatewayError('channel-finalized', 'The channel is closed.')
    const record = await drained(ctx, channelId)
    const settled = record.settled > state.settled ? record.settled : state.settled
    const capture = record.spent > settled ? record.spent : settled
    if (capture > state.deposit) {
      await ctx.ledger.cancelClosing(channelId, ctx.now())
      throw new GatewayError(
        'amount-exceeds-deposit',
        'What was spent exceeds the deposit on chain.',
      )
    }
    // The payer's own close voucher when it covers the capture, else the highest the ledger holds
    // (accepted ≥ spent ≥ settled by the ledger's invariants).
    const voucher =
      cumulative >= capture ? { cumulative, signature: payload.signature } : record.accepted
    if (voucher.cumulative < capture) {
      await ctx.ledger.cancelClosing(channelId, ctx.now())
      throw new GatewayError(
        'verification-failed',
        'No voucher of this channel covers what was spent.',
        { details: { spent: record.spent.toString(), settled: settled.toString() } },
      )
    }

    let outcome
    try {
      outcome = await submit(ctx.settlement.submit, lease, {
        functionName: 'close',
        descriptor: known.descriptor,
        cumulative: voucher.cumulative,
        capture,
        signature: voucher.signature,
      })
    } catch (error) {
      // Nothing was sent (signing or the intent write failed): the channel stays usable. If the
      // ledger is what failed, reopening it may fail too; the close's own answer says which.
      await ctx.ledger.cancelClosing(channelId, ctx.now()).catch(() => undefined)
      if (error instanceof GatewayError) throw error
      throw new GatewayError('chain-unavailable', 'The close transaction could not be prepared.', {
        cause: error,
        retryAfter: 2,
      })
    }
    switch (outcome.kind) {
      case 'confirmed': {
        const final = (await ctx.ledger.get(channelId)) ?? record
        return {
          snapshot: snapshotOf(final),
          txHash: outcome.receipt.transactionHash,
          voucherAmount: voucher.cumulative,
        }
      }
      case 'reverted':
      case 'expired':
        await ctx.ledger.cancelClosing(channelId, ctx.now())
        throw new GatewayError(
          'transaction-rejected',
          'The close transaction did not go through.',
          {
            details: { txHash: outcome.intent.txHash },
          },
        )
      case 'pending':
        // The close may still land; the channel stays closing and the settler will record it.
        throw busy(outcome.intent.txHash)
      case 'lost-lease':
        await ctx.ledger.cancelClosing(channelId, ctx.now())
        throw busy()
    }
  } finally {
    await ctx.settlement.submit.store.release(lease)
  }
}

function busy(txHash?: Hex): GatewayError {
  return new GatewayError('channel-busy', 'A settlement of this channel is still in flight.', {
    retryAfter: 2,
    ...(txHash ? { details: { txHash } } : {}),
  })
}

/**
 * Takes the channel's settlement lock, waiting for a settlement in progress. Bounded by the lock's
 * TTL: a holder (a settler waiting for its receipt) gives the channel back when its transaction is
 * recorded, and no lease outlives its TTL; only a channel taken again and again for that long is
 * answered `channel-busy`.
 */
async function acquire(ctx: SessionContext, channelId: Hex): Promise<Lease> {
  // A lock owner may take its own lock again, so each close is an owner of its own: it must wait
  // for this process's settler (and other closes) rather than take the channel from under them.
  const owner = `${ctx.settlement.owner}/close/${randomUUID()}`
  const deadline = ctx.now() + ctx.settlement.lockTtlMs
  for (;;) {
    const lease = await ctx.settlement.submit.store.acquire(
      channelId,
      owner,
      ctx.settlement.lockTtlMs,
    )
    if (lease) return lease
    if (ctx.now() >= deadline) throw busy()
    await new Promise((r) => setTimeout(r, 25))
  }
}
