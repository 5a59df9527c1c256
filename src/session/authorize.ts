/**
 * Paying with a voucher: signature check, chain freshness, then ONE atomic ledger step that
 * accepts the voucher and reserves or charges the price. Every outcome other than success is a
 * `GatewayError` the client can act on, and none of them changes the ledger.
 */
import { randomUUID } from 'node:crypto'
import type { Address, Hex } from 'viem'
import { GatewayError } from '../errors.js'
import type { AuthorizeResult, ChannelSnapshot, ChargeMode, Descriptor } from '../ledger/port.js'
import type { SessionContext } from './context.js'
import { assertVoucherSignature } from './voucher-check.js'

/** How a request uses its voucher: the price, and reserve (on success) / commit (always) / none. */
export type VoucherUse = {
  readonly amount: bigint
  readonly mode: ChargeMode
  /**
   * Asked once the voucher signature has proven who pays, before the chain or the ledger: throws
   * to refuse the request (a rate limit) with nothing reserved or charged.
   */
  readonly admit?: ((who: { payer: Address; channelId: Hex }) => Promise<void>) | undefined
}

/**
 * Value tied to one in-flight request: a reservation (`reserve`), committed or released once the
 * upstream has answered, or a charge already made (`hold`), refunded by a release when the
 * answer is not served.
 */
export type Reservation = {
  readonly id: string
  readonly kind: 'reserve' | 'hold'
  readonly amount: bigint
  /** When the ledger stops holding it (ms since the epoch). */
  readonly expiresAt: number
}

export type Authorized = {
  readonly snapshot: ChannelSnapshot
  /** Set when value was reserved or held: resolve it once the upstream has answered. */
  readonly reservation: Reservation | undefined
}

/** Turns a ledger refusal into the protocol's problem. */
export function authorizeFailure(
  result: Exclude<AuthorizeResult, { kind: 'authorized' }>,
  amount: bigint,
): GatewayError {
  switch (result.kind) {
    case 'not-found':
      return new GatewayError('channel-not-found', 'No open channel with this id is known.')
    case 'closing':
      return new GatewayError(
        'channel-finalized',
        'The channel is closing and accepts no more vouchers.',
      )
    case 'finalized':
      return new GatewayError('channel-finalized', 'The channel is closed.')
    case 'insufficient':
      return new GatewayError('insufficient-balance', 'The voucher does not cover this request.', {
        details: {
          available: result.available.toString(),
          required: amount.toString(),
          // What the next voucher must add on top of the accepted one (protocol.md §2.7).
          requiredTopUp: (amount - result.available).toString(),
          acceptedCumulative: result.snapshot.accepted.toString(),
          spent: result.snapshot.spent.toString(),
        },
      })
    case 'voucher-rejected':
      switch (result.reason) {
        case 'exceeds-deposit':
          return new GatewayError(
            'amount-exceeds-deposit',
            'The voucher exceeds the channel deposit.',
            {
              details: { deposit: result.snapshot.deposit.toString() },
            },
          )
        case 'not-increasing':
          return new GatewayError(
            'voucher-not-increasing',
            'The voucher is below the highest accepted voucher.',
            {
              details: { acceptedCumulative: result.snapshot.accepted.toString() },
            },
          )
        case 'delta-too-small':
          return new GatewayError(
            'delta-too-small',
            'The voucher raises the cumulative amount by too little.',
            {
              details: { acceptedCumulative: result.snapshot.accepted.toString() },
            },
          )
      }
  }
}

/**
 * Accepts a voucher whose descriptor already matched the channel id and terms, and applies `use`.
 * A voucher above the recorded deposit triggers one fresh chain read first (the payer may have
 * topped up on chain directly) before it is refused.
 */
export async function authorizeVoucher(
  ctx: SessionContext,
  input: {
    channelId: Hex
    descriptor: Descriptor
    cumulative: bigint
    signature: Hex
    use: VoucherUse
    /** A check still running that must pass before the ledger is touched (a payer block). */
    allowed?: Promise<void>
  },
): Promise<Authorized> {
  assertVoucherSignature({
    verifier: ctx.vouchers,
    channelId: input.channelId,
    descriptor: input.descriptor,
    cumulative: input.cumulative,
    signature: input.signature,
  })
  await input.allowed
  await input.use.admit?.({ payer: input.descriptor.payer, channelId: input.channelId })
  await ctx.chainState.ensureFresh(input.channelId)

  const attempt = () => {
    const now = ctx.now()
    const { mode } = input.use
    const reservation: Reservation | undefined =
      (mode === 'reserve' || mode === 'hold') && input.use.amount > 0n
        ? {
            id: randomUUID(),
            kind: mode,
            amount: input.use.amount,
            expiresAt: now + ctx.terms.reservationTtlMs,
          }
        : undefined
    return ctx.ledger
      .authorize({
        channelId: input.channelId,
        voucher: { cumulative: input.cumulative, signature: input.signature },
        amount: input.use.amount,
        mode: input.use.mode,
        ...(reservation ? { reservationId: reservation.id, expiresAt: reservation.expiresAt } : {}),
        minDelta: ctx.terms.minVoucherDelta,
        now,
      })
      .then((result) => ({ result, reservation }))
  }

  let { result, reservation } = await attempt()
  if (result.kind === 'voucher-rejected' && result.reason === 'exceeds-deposit') {
    const fresh = await ctx.chainState.refresh(input.channelId).catch(() => undefined)
    if (fresh && fresh.deposit >= input.cumulative) ({ result, reservation } = await attempt())
  }
  if (result.kind !== 'authorized') throw authorizeFailure(result, input.use.amount)
  return { snapshot: result.snapshot, reservation }
}
