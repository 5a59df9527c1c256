/**
 * What the session intent needs from the rest of the gateway, passed in explicitly: the channel
 * terms this gateway accepts, the ledger, the escrow adapter, voucher verification, chain-state
 * freshness and the clock. No module-level state.
 */
import type { EscrowClient } from '../chain/escrow.js'
import type { LedgerPort } from '../ledger/port.js'
import type { Terms } from '../pricing/terms.js'
import type { SubmitContext } from '../settlement/submit.js'
import type { ChainStateCache } from './chain-state.js'
import type { ChannelTermsCheck } from './terms.js'
import type { VoucherVerifier } from './voucher-check.js'

export type SessionContext = {
  readonly terms: Terms
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
