/**
 * What `open` and `topUp` have in common: a Tempo transaction the client signed, which must call
 * the escrow (optionally after mppx's swap-into-the-token prefix: `approve` then the stablecoin
 * DEX) and nothing else, checked offline before it is broadcast; and its broadcast, where a chain
 * that does not answer (503, retry) is told apart from a chain that refuses the transaction (402).
 */
import {
  HttpRequestError,
  TimeoutError,
  toFunctionSelector,
  type Hex,
  type TransactionReceipt,
} from 'viem'
import { decodeTempoTransaction, type DecodedTempoTx, type TempoCall } from '../chain/tempo-tx.js'
import { GatewayError } from '../errors.js'
import type { SessionContext } from './context.js'

const approveSelector = toFunctionSelector('approve(address,uint256)')
/** Tempo's stablecoin DEX, which mppx clients may call to swap into the channel token first. */
const stablecoinDex = '0xdec0000000000000000000000000000000000000'

const rejected = (detail: string) => new GatewayError('verification-failed', detail)

/**
 * Decodes a client transaction and returns it with its escrow call, which must be the last call,
 * go to the escrow and start with `selector`; anything else is `verification-failed`.
 */
export function escrowCallOf(
  ctx: SessionContext,
  options: { raw: Hex; selector: Hex; action: 'open' | 'top-up' },
): { tx: DecodedTempoTx; call: TempoCall } {
  let tx: DecodedTempoTx
  try {
    tx = decodeTempoTransaction(options.raw)
  } catch {
    throw rejected(`The ${options.action} transaction is not a signed Tempo transaction.`)
  }
  if (tx.chainId !== ctx.terms.chainId) {
    throw rejected(`The ${options.action} transaction is for another chain.`)
  }
  const call = tx.calls.at(-1)
  const swapPrefix =
    tx.calls.length === 3 &&
    tx.calls[0]!.data.startsWith(approveSelector) &&
    tx.calls[1]!.to.toLowerCase() === stablecoinDex
  if (
    !call ||
    (tx.calls.length !== 1 && !swapPrefix) ||
    call.to.toLowerCase() !== ctx.terms.escrow.toLowerCase() ||
    !call.data.startsWith(options.selector)
  ) {
    throw rejected(
      `The ${options.action} transaction makes other calls than the ${options.action}.`,
    )
  }
  return { tx, call }
}

/** Broadcasts a client transaction; returns its successful receipt. */
export async function broadcastClientTransaction(
  ctx: SessionContext,
  options: { raw: Hex; action: 'open' | 'top-up' },
): Promise<TransactionReceipt> {
  // A chain that just failed a read is not asked to take a transaction: the client would wait
  // for viem's time-out to learn what a 503 tells it now.
  if (!ctx.chainState.reachable()) {
    throw new GatewayError('chain-unavailable', 'The chain is not answering; try again shortly.', {
      retryAfter: 2,
    })
  }
  let receipt: TransactionReceipt
  try {
    receipt = await ctx.escrow.broadcast(options.raw)
  } catch (error) {
    if (error instanceof HttpRequestError || error instanceof TimeoutError) {
      throw new GatewayError(
        'chain-unavailable',
        'The chain did not take the transaction in time.',
        {
          cause: error,
          retryAfter: 2,
        },
      )
    }
    throw new GatewayError(
      'transaction-rejected',
      `The chain refused the ${options.action} transaction.`,
      {
        cause: error,
      },
    )
  }
  if (receipt.status !== 'success') {
    throw new GatewayError('transaction-rejected', `The ${options.action} transaction reverted.`, {
      details: { txHash: receipt.transactionHash },
    })
  }
  return receipt
}
