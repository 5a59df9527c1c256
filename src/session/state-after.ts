/**
 * A channel's state on chain right after a client's transaction, to check it against the
 * transaction's event. Read at the receipt's block when the node still holds that block's state;
 * a node that pruned it (non-archive nodes keep a bounded window, and a burst of opens can age a
 * receipt's block past it before its read) is asked for the latest state instead, which may only
 * have moved on the way a channel moves (a deposit that grew). The caller's check says which:
 * `atBlock` tells it how exact it may be.
 */
import type { Hex } from 'viem'
import { GatewayError } from '../errors.js'
import type { ChainState } from '../ledger/port.js'
import type { SessionContext } from './context.js'

export async function stateAfter(
  ctx: SessionContext,
  channelId: Hex,
  blockNumber: bigint,
): Promise<{ state: ChainState; atBlock: boolean }> {
  try {
    return { state: await ctx.escrow.readState(channelId, blockNumber), atBlock: true }
  } catch {
    try {
      return { state: await ctx.escrow.readState(channelId), atBlock: false }
    } catch (error) {
      throw new GatewayError('chain-unavailable', 'The chain did not answer a state read.', {
        cause: error,
        retryAfter: 2,
      })
    }
  }
}
