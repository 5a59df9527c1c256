/**
 * The `voucher` action: a new (or repeated) cumulative voucher on a known channel, paying for the
 * request it arrives with.
 */
import { authorizeVoucher, type Authorized, type VoucherUse } from './authorize.js'
import type { SessionContext } from './context.js'
import type { VoucherPayload } from './payload.js'
import { assertPayerAllowed } from './payer-block.js'
import { assertSource } from './source.js'

export async function payWithVoucher(
  ctx: SessionContext,
  input: { payload: VoucherPayload; use: VoucherUse; source: string | undefined },
): Promise<Authorized> {
  const { payload } = input
  ctx.channelTerms(payload.channelId, payload.descriptor)
  assertSource({ source: input.source, chainId: ctx.terms.chainId, descriptor: payload.descriptor })
  // The block check is a ledger round trip; it runs while the signature is verified (CPU), and
  // is awaited before the ledger step. The no-op handler only keeps a signature failure, thrown
  // first, from leaving this rejection unobserved; awaiting `allowed` still throws.
  const allowed = assertPayerAllowed(ctx, payload.descriptor.payer)
  allowed.catch(() => undefined)
  return authorizeVoucher(ctx, {
    channelId: payload.channelId,
    descriptor: payload.descriptor,
    cumulative: payload.cumulativeAmount,
    signature: payload.signature,
    use: input.use,
    allowed,
  })
}
