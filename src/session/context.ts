/**
 * What the session intent needs from the rest of the gateway, passed in explicitly: the channel
 * terms this gateway accepts, the ledger, the escrow adapter, voucher verification, chain-state
 * freshness and the clock. No module-level state.
 */
import type { Address } from 'viem'
import type { EscrowClient } from '../chain/escrow.js'
import type { LedgerPort } from '../ledger/port.js'
import type { SubmitContext } from '../settlement/submit.js'
import type { ChainStateCache } from './chain-state.js'
import type { ChannelTermsCheck } from './terms.js'
import type { VoucherVerifier } from './voucher-check.js'

/** The channel terms of this gateway: what every descriptor must agree with. */
export type SessionTerms = {
  readonly chainId: number
  readonly escrow: Address
  /** The payee: `recipient` in challenges. */
  readonly recipient: Address
  /** The TIP-20 token channels are denominated in: `currency` in challenges. */
  readonly currency: Address
  /** The payee-side operator channels must name (the zero address when none). */
  readonly operator: Address
  readonly minVoucherDelta: bigint
  /** The smallest deposit an `open` may lock. */
  readonly minDeposit: bigint
  /** How long an on-success reservation may stay unresolved. */
  readonly reservationTtlMs: number
}

export type SessionContext = {
  readonly terms: SessionTerms
  /** `terms` applied to a credential's channel id and descriptor (cached per channel). */
  readonly channelTerms: ChannelTermsCheck
  readonly ledger: LedgerPort
  readonly escrow: EscrowClient
  readonly vouchers: VoucherVerifier
  readonly chainState: ChainStateCache
  /** The machinery the cooperative close shares with the settler: locks, intents, submission. */
  readonly settlement: {
    readonly submit: SubmitContext
    /** This instance's lock owner id; each close takes the lock as a distinct owner under it. */
    readonly owner: string
    readonly lockTtlMs: number
  }
  /** Milliseconds since the epoch. */
  readonly now: () => number
}
