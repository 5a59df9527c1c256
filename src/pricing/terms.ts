/**
 * The payment terms of this gateway, built once from the configuration: what every challenge
 * states and what every channel and voucher is checked against. Challenges (pricing/challenges.ts)
 * and the session intent (session/) read the same object, so the terms a client is offered and
 * the terms its credential is held to cannot drift apart.
 */
import { zeroAddress, type Address } from 'viem'
import type { Config } from '../config/schema.js'

export type Terms = {
  /** The protection space named in every challenge. */
  readonly realm: string
  readonly chainId: number
  readonly escrow: Address
  /** The payee: `recipient` in challenges, `payee` in channel descriptors. */
  readonly recipient: Address
  /** The TIP-20 token channels are denominated in: `currency` in challenges. */
  readonly currency: Address
  /** The payee-side operator channels must name; the zero address when there is none. */
  readonly operator: Address
  /** The token the payee pays settlement fees in; advertised as `methodDetails.feeToken`. */
  readonly feeToken: Address
  /** The deposit a client opens with when it follows the challenge. */
  readonly suggestedDeposit: bigint
  /** Smallest increase of a new voucher over the highest accepted one. */
  readonly minVoucherDelta: bigint
  /** The smallest deposit an `open` may lock. */
  readonly minDeposit: bigint
  /** How long an issued challenge stays payable. */
  readonly challengeTtlMs: number
  /** How long an on-success reservation may stay unresolved. */
  readonly reservationTtlMs: number
  /**
   * How a one-shot charge may be paid (`pull`: the gateway broadcasts the client's signed
   * transfer; `push`: the client broadcast it and sends its hash); absent: both.
   */
  readonly chargeModes?: readonly ('pull' | 'push')[] | undefined
}

export function termsOf(config: Config): Terms {
  // The longest a forwarded request can wait for the upstream's head after its price was held:
  // its body (read whole first when small), a free connection, then the head itself.
  const slowestHeadMs =
    config.server.requestBodyTimeoutMs +
    Math.max(...Object.values(config.upstreams).map((u) => u.queueTimeoutMs + u.headersTimeoutMs))
  return {
    realm: config.server.realm,
    chainId: config.chain.chainId,
    escrow: config.chain.escrow,
    recipient: config.payee.address,
    currency: config.currency.token,
    operator: config.payee.operator ?? zeroAddress,
    feeToken: config.currency.feeToken,
    suggestedDeposit: config.session.suggestedDeposit.amount,
    minVoucherDelta: config.session.minVoucherDelta.amount,
    minDeposit: config.session.minDeposit.amount,
    challengeTtlMs: config.server.challengeTtlSeconds * 1000,
    // A reservation must outlive the slowest upstream answer it waits for.
    reservationTtlMs: Math.max(config.session.reservationTtlSeconds * 1000, slowestHeadMs + 5_000),
    chargeModes: config.tempoCharge.modes,
  }
}
