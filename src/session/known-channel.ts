/**
 * The channel a `topUp` or `close` credential is about: its descriptor must meet this gateway's
 * terms, its source (if stated) must be the payer or signer, and the ledger must know it and not
 * have finalized it.
 */
import type { Hex } from 'viem'
import { GatewayError } from '../errors.js'
import type { ChannelRecord, Descriptor } from '../ledger/port.js'
import type { SessionContext } from './context.js'
import { assertSource } from './source.js'

export async function knownChannel(
  ctx: SessionContext,
  options: { channelId: Hex; descriptor: Descriptor; source: string | undefined },
): Promise<ChannelRecord> {
  ctx.channelTerms(options.channelId, options.descriptor)
  assertSource({
    source: options.source,
    chainId: ctx.terms.chainId,
    descriptor: options.descriptor,
  })
  const known = await ctx.ledger.get(options.channelId)
  if (!known) throw new GatewayError('channel-not-found', 'No open channel with this id is known.')
  if (known.status === 'finalized') {
    throw new GatewayError('channel-finalized', 'The channel is closed.')
  }
  return known
}
