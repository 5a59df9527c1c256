/**
 * A payer the operator blocked (admin API) opens no channel, tops none up and pays with no
 * voucher; the ledger holds the blocks, so every instance refuses the same payers.
 *
 * Why a close is never refused: a blocked payer's deposit would otherwise stay locked until a
 * forced close (15 minutes of grace), and the close only hands back what was not served — it
 * captures exactly `spent`, which the operator was going to settle anyway. Session recovery is
 * not refused either: it buys nothing and shows the payer the channel it may close.
 *
 * Callers check only a payer proven by the credential: a descriptor that hashed to the channel
 * id, or the sender of an open transaction.
 */
import type { Address } from 'viem'
import { GatewayError } from '../errors.js'
import type { SessionContext } from './context.js'

export async function assertPayerAllowed(ctx: SessionContext, payer: Address): Promise<void> {
  const block = await ctx.ledger.blocks.get(payer)
  if (block === undefined) return
  throw new GatewayError(
    'payer-blocked',
    'The operator of this gateway has blocked this payer. A close of its channels is still accepted.',
    { details: { payer: block.payer } },
  )
}
