/**
 * How one settlement attempt ended, as a small fixed set of results the gateway counts
 * (`mppgw_settlement_attempts_total{result}`), so an operator sees a failing RPC or a chain that
 * does not confirm before a payer's forced close turns it into lost money.
 *
 * An attempt is one `submit` of a settle or close, or one reconciliation of a pending intent, or
 * a failure before either finished:
 *  - `confirmed`, `reverted` — the transaction landed (the value moved, or it did not);
 *  - `expired` — the transaction provably never landed and its intent was dropped;
 *  - `timeout` — no receipt in time (the outcome is unknown and will be reconciled);
 *  - `rpc-error` — the chain's RPC refused or failed a call (the outcome is unknown or nothing
 *    was sent);
 *  - `lost-lease` — another instance holds the channel now; nothing was sent;
 *  - `error` — anything else (the ledger or the settlement store failed).
 */
import { BaseError, TimeoutError, WaitForTransactionReceiptTimeoutError } from 'viem'
import { ChainThreadError } from '../chain/escrow-thread.js'
import { ReceiptTimeoutError } from '../chain/receipts.js'
import type { SubmitOutcome } from './submit.js'

export const attemptResults = [
  'confirmed',
  'reverted',
  'expired',
  'timeout',
  'rpc-error',
  'lost-lease',
  'error',
] as const

export type AttemptResult = (typeof attemptResults)[number]

/** The result of an attempt that returned an outcome. */
export function outcomeResult(outcome: SubmitOutcome): AttemptResult {
  switch (outcome.kind) {
    case 'confirmed':
    case 'reverted':
    case 'expired':
    case 'lost-lease':
      return outcome.kind
    case 'pending':
      // A broadcast or receipt failure: the intent stays; what failed says which kind it was.
      return failureResult(outcome.error)
  }
}

/** The result of an attempt that failed with `error`. */
export function failureResult(error: unknown): AttemptResult {
  // The gateway's own receipt poller (chain/receipts.ts) gave up waiting: the outcome is unknown.
  if (error instanceof ReceiptTimeoutError) return 'timeout'
  // A call the chain thread made (chain/escrow-thread.ts) says which kind it was.
  if (error instanceof ChainThreadError) {
    return error.kind === 'timeout' || error.kind === 'rpc-error' ? error.kind : 'error'
  }
  if (!(error instanceof BaseError)) return 'error'
  const timedOut = error.walk(
    (cause) =>
      cause instanceof TimeoutError || cause instanceof WaitForTransactionReceiptTimeoutError,
  )
  return timedOut ? 'timeout' : 'rpc-error'
}
