/**
 * The `topUp` action: a client-signed transaction adding to a known channel's deposit. As for
 * `open`, the transaction is checked offline first (it must call exactly `topUp` on the escrow with
 * this channel's descriptor and the stated amount), then the chain decides: one `TopUp` event for
 * this channel and a read-back of the new deposit. A top-up also cancels a pending close request.
 */
import { decodeFunctionData, toFunctionSelector, type Hex } from 'viem'
import { escrowAbi } from '../chain/escrow-abi.js'
import { GatewayError } from '../errors.js'
import { snapshotOf, type ChannelSnapshot } from '../ledger/port.js'
import { stateAfter } from './state-after.js'
import { broadcastClientTransaction, escrowCallOf } from './client-transaction.js'
import { sameDescriptor } from './channel-id.js'
import type { SessionContext } from './context.js'
import { knownChannel } from './known-channel.js'
import { assertPayerAllowed } from './payer-block.js'
import type { TopUpPayload } from './payload.js'

const topUpSelector = toFunctionSelector(
  'topUp((address,address,address,address,bytes32,address,bytes32),uint96)',
)

const rejected = (detail: string) => new GatewayError('verification-failed', detail)

export async function topUpChannel(
  ctx: SessionContext,
  input: { payload: TopUpPayload; source: string | undefined },
): Promise<{ snapshot: ChannelSnapshot; txHash: Hex }> {
  const { payload } = input
  const channelId = payload.channelId
  const known = await knownChannel(ctx, {
    channelId,
    descriptor: payload.descriptor,
    source: input.source,
  })
  await assertPayerAllowed(ctx, known.descriptor.payer)
  if (payload.additionalDeposit === 0n) throw rejected('A top-up must add to the deposit.')

  const { tx, call } = escrowCallOf(ctx, {
    raw: payload.transaction,
    selector: topUpSelector,
    action: 'top-up',
  })
  if (tx.sender.toLowerCase() !== known.descriptor.payer.toLowerCase()) {
    throw rejected('The top-up transaction is not sent by the channel payer.')
  }
  const decoded = decodeFunctionData({ abi: escrowAbi, data: call.data })
  if (decoded.functionName !== 'topUp') throw rejected('The top-up call cannot be decoded.')
  const [descriptor, amount] = decoded.args
  if (!sameDescriptor(known.descriptor, descriptor) || amount !== payload.additionalDeposit) {
    throw rejected('The top-up call does not match this channel and amount.')
  }

  const receipt = await broadcastClientTransaction(ctx, {
    raw: payload.transaction,
    action: 'top-up',
  })
  const events = ctx.escrow.events(receipt, 'TopUp', channelId)
  if (events.length !== 1 || events[0]!.args.additionalDeposit !== amount) {
    throw rejected('The transaction did not top up this channel exactly once.')
  }
  const { state, atBlock } = await stateAfter(ctx, channelId, receipt.blockNumber)
  const newDeposit = events[0]!.args.newDeposit
  // Read later than its block, the deposit may only have grown since (another top-up).
  if (atBlock ? state.deposit !== newDeposit : state.deposit < newDeposit)
    throw rejected('The deposit on chain differs from the top-up.')

  const now = ctx.now()
  const recorded = await ctx.ledger.recordTopUp(channelId, state.deposit, now)
  await ctx.ledger.syncChain(channelId, state, now)
  ctx.chainState.touch(channelId)
  if (recorded.kind !== 'ok') throw new GatewayError('channel-finalized', 'The channel is closed.')
  const latest = (await ctx.ledger.get(channelId)) ?? recorded.channel
  return { snapshot: snapshotOf(latest), txHash: receipt.transactionHash }
}
