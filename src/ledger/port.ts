/**
 * The ledger port: what the gateway records per payment channel, and the atomic operations on it.
 *
 * The ledger is where the operator's money lives. The highest voucher a payer signed is the
 * payee's only claim on the escrow, and every paid response was bought with part of it. Each
 * operation below is ONE atomic transition (a Lua script in Redis; a synchronous step in memory):
 * adapters never read, decide in Node, then write.
 *
 * Invariants (checked by the contract suite against every adapter):
 *  - `accepted.cumulative` and `settled` never decrease; neither do `spent − held` (the final
 *    charges) and `units` but for a refunded hold;
 *  - `spent + reserved ≤ accepted.cumulative ≤ deposit` (deposit only grows while open);
 *  - `held ≤ spent`: a hold is a charge that a `release` may still refund until it lapses;
 *  - a voucher never lowers the highest: an equal or lower one is accepted without change and
 *    pays only from the headroom already held (`accepted − spent − reserved`);
 *  - a reservation is resolved at most once: committed (value becomes spent) or released; a
 *    commit may charge less than was reserved (never more), releasing the remainder;
 *    unresolved reservations expire and are released by the next operation on the channel;
 *  - `settleVoucher.cumulative ≤ spent − held`: a settlement never claims value that was not
 *    served, nor a charge that may still be refunded;
 *  - a finalized channel accepts nothing more;
 *  - a payment claim (a one-shot payment's transaction hash) is held by at most one owner until
 *    it lapses or that owner releases it: first use and replay are told apart atomically, across
 *    every instance sharing the store.
 */
import type { Address, Hex } from 'viem'

/** The immutable TIP-1034 channel descriptor (what the channel id is a hash of). */
export type Descriptor = {
  readonly payer: Address
  readonly payee: Address
  readonly operator: Address
  readonly token: Address
  readonly salt: Hex
  readonly authorizedSigner: Address
  readonly expiringNonceHash: Hex
}

/** A voucher the payer signed: cumulative amount in base units, and its signature. */
export type SignedVoucher = { readonly cumulative: bigint; readonly signature: Hex }

export type ChannelStatus = 'open' | 'closing' | 'finalized'

/** Everything the ledger knows about one channel. */
export type ChannelRecord = {
  readonly channelId: Hex
  readonly chainId: number
  readonly escrow: Address
  readonly descriptor: Descriptor
  /** Latest known on-chain deposit. */
  readonly deposit: bigint
  /** Latest known on-chain settled amount. */
  readonly settled: bigint
  /** Unix seconds of a pending forced-close request, 0 when none. */
  readonly closeRequestedAt: number
  readonly status: ChannelStatus
  /** Highest accepted voucher (cumulative 0 and signature `0x` before the first). */
  readonly accepted: SignedVoucher
  /** Highest accepted voucher whose cumulative amount is ≤ spent: what `settle` may submit. */
  readonly settleVoucher: SignedVoucher | undefined
  /** Value delivered and charged. */
  readonly spent: bigint
  /** Charged units (requests). */
  readonly units: number
  /** Value held by unresolved on-success reservations. */
  readonly reserved: bigint
  /** The part of `spent` charged by holds that a release may still refund. */
  readonly held: bigint
  /** Transaction hash of the close that finalized the channel. */
  readonly closeTxHash: Hex | undefined
  /** Milliseconds since the epoch. */
  readonly updatedAt: number
}

/** The figures a receipt and a problem report are made of. */
export type ChannelSnapshot = {
  readonly channelId: Hex
  readonly accepted: bigint
  readonly spent: bigint
  readonly units: number
  readonly reserved: bigint
  readonly deposit: bigint
}

/** A new channel, as confirmed on chain by an `open`. */
export type NewChannel = {
  readonly channelId: Hex
  readonly chainId: number
  readonly escrow: Address
  readonly descriptor: Descriptor
  readonly deposit: bigint
  readonly settled: bigint
}

/**
 * How a paid request uses its value: `reserve` holds it until `commit` or `release` (a price
 * known only from the response), `hold` charges it at once, refundable by `release` until it
 * lapses (charge on success, and always: a served answer costs no second step), `commit` charges
 * it at once for good, `none` only records the voucher (management requests).
 */
export type ChargeMode = 'reserve' | 'hold' | 'commit' | 'none'

export type AuthorizeInput = {
  readonly channelId: Hex
  /** A voucher whose signature the caller has already verified against the descriptor. */
  readonly voucher: SignedVoucher | undefined
  readonly amount: bigint
  readonly mode: ChargeMode
  /** Required for `reserve` and `hold`: a unique id for the reservation. */
  readonly reservationId?: string
  /** Required for `reserve` and `hold`: when it lapses (ms since the epoch). */
  readonly expiresAt?: number
  /** Smallest increase of a new voucher over the highest. */
  readonly minDelta: bigint
  readonly now: number
}

export type VoucherRejection = 'not-increasing' | 'exceeds-deposit' | 'delta-too-small'

export type AuthorizeResult =
  | {
      readonly kind: 'authorized'
      /**
       * `new`: the voucher raised the highest; `same`: equal to it; `lower`: below it (paid from
       * headroom already held); `none`: no voucher given.
       */
      readonly voucher: 'new' | 'same' | 'lower' | 'none'
      readonly snapshot: ChannelSnapshot
      /** {@link settleableOf} the channel after this step. */
      readonly settleable: bigint
    }
  | {
      readonly kind: 'insufficient'
      readonly available: bigint
      readonly snapshot: ChannelSnapshot
    }
  | {
      readonly kind: 'voucher-rejected'
      readonly reason: VoucherRejection
      readonly snapshot: ChannelSnapshot
    }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'closing' }
  | { readonly kind: 'finalized' }

export type CommitResult =
  | {
      readonly kind: 'committed'
      readonly snapshot: ChannelSnapshot
      /**
       * {@link settleableOf} the channel after this commit: how the caller tells, without another
       * read, that this charge took the channel over the settler's amount threshold.
       */
      readonly settleable: bigint
    }
  | { readonly kind: 'missing' }
  | { readonly kind: 'finalized' }

/** How many of the given holds were made final (the rest were not live holds). */
export type ConfirmResult =
  | {
      readonly kind: 'confirmed'
      readonly confirmed: number
      /** {@link settleableOf} the channel after this step. */
      readonly settleable: bigint
    }
  | { readonly kind: 'missing' }

export type ReleaseResult =
  { readonly kind: 'released'; readonly snapshot: ChannelSnapshot } | { readonly kind: 'missing' }

export type OpenResult =
  | { readonly kind: 'created'; readonly channel: ChannelRecord }
  | { readonly kind: 'exists'; readonly channel: ChannelRecord }

/** On-chain channel state as `getChannelState` returns it. */
export type ChainState = {
  readonly deposit: bigint
  readonly settled: bigint
  readonly closeRequestedAt: number
}

export type TransitionResult =
  | { readonly kind: 'ok'; readonly channel: ChannelRecord }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'finalized' }

/**
 * A one-shot payment to claim for single use: `key` names the payment (its transaction hash),
 * `owner` the request holding it, `expiresAt` (ms since the epoch) when the claim lapses by itself.
 */
export type PaymentClaim = {
  readonly key: string
  readonly owner: string
  readonly expiresAt: number
  readonly now: number
}

/** `claimed`: this request holds the payment now; `used`: another request holds or used it. */
export type ClaimResult = { readonly kind: 'claimed' } | { readonly kind: 'used' }

export type LedgerPort = {
  /** Records a channel confirmed on chain; an existing record is returned unchanged. */
  open(channel: NewChannel, now: number): Promise<OpenResult>
  /** Accepts a voucher (if given) and reserves or charges `amount`, atomically. */
  authorize(input: AuthorizeInput): Promise<AuthorizeResult>
  /**
   * Turns a reservation into spent value: the whole reservation, or `amount` of it with the rest
   * released in the same atomic step (a price known only from the response).
   *
   * @throws Error when `amount` is negative or above the reservation (nothing changes).
   */
  commit(channelId: Hex, reservationId: string, now: number, amount?: bigint): Promise<CommitResult>
  /**
   * Drops a reservation without charging it, or refunds a hold that has not lapsed. When nothing
   * is found and `voidUntil` is given, the id is voided until then: an authorize naming it that
   * runs later (still queued in Redis when its caller gave up) charges and holds nothing.
   */
  release(
    channelId: Hex,
    reservationId: string,
    now: number,
    voidUntil?: number,
  ): Promise<ReleaseResult>
  /**
   * Makes holds whose answers were served final before they lapse, so their value is settleable
   * at once. Idempotent; the Redis adapter sends it batched, off the request's path — a confirm
   * that never lands changes nothing but the time the charge becomes settleable (at the lapse).
   */
  confirmHolds(
    channelId: Hex,
    reservationIds: readonly string[],
    now: number,
  ): Promise<ConfirmResult>
  /** Records a confirmed top-up: the deposit grows and a pending close request is cancelled. */
  recordTopUp(channelId: Hex, deposit: bigint, now: number): Promise<TransitionResult>
  /** Folds a fresh on-chain read in; a channel gone from chain (deposit 0) becomes finalized. */
  syncChain(channelId: Hex, state: ChainState, now: number): Promise<TransitionResult>
  /** Stops new authorizations on a channel about to be closed. */
  markClosing(channelId: Hex, now: number): Promise<TransitionResult>
  /** Lets a closing channel accept vouchers again (its close transaction failed). */
  cancelClosing(channelId: Hex, now: number): Promise<TransitionResult>
  /** Records the confirmed close (or withdrawal) of a channel. */
  finalize(
    channelId: Hex,
    outcome: { settled: bigint; txHash: Hex | undefined },
    now: number,
  ): Promise<TransitionResult>
  get(channelId: Hex): Promise<ChannelRecord | undefined>
  /**
   * Up to `limit` channels `payer` opened that are not finalized, most recently updated first:
   * how a client that lost its local state finds its open channel again (session recovery).
   * Payers compare case-insensitively.
   */
  channelsOf(payer: Address, limit: number): Promise<ChannelRecord[]>
  /**
   * Claims a one-shot payment for single use, atomically: the first claim of a key wins until it
   * lapses or is released; every other claim meanwhile (on any instance) is `used`.
   */
  claimPayment(claim: PaymentClaim): Promise<ClaimResult>
  /**
   * Gives a claim back (its payment was never collected), only if `owner` still holds it: the
   * same credential may then pay another request.
   */
  releasePayment(key: string, owner: string): Promise<void>
  /** The operator's blocked payers, shared by every instance on this ledger. */
  readonly blocks: PayerBlocks
  /** Health probe; rejects when the backing store cannot be reached. */
  ping(): Promise<void>
  close(): Promise<void>
}

/** A payer the operator blocked: when, and the note the operator gave. */
export type PayerBlock = {
  /** Lower-cased address. */
  readonly payer: Address
  /** Milliseconds since the epoch. */
  readonly since: number
  readonly reason: string | undefined
}

/**
 * Payers the operator blocked (the admin API), kept beside the channels so that every instance
 * on the same ledger refuses the same payers. Addresses compare case-insensitively. Blocking is
 * a claim: the first block of a payer is recorded, a repeated one reports the block in force.
 */
export type PayerBlocks = {
  block(
    payer: Address,
    entry: { since: number; reason: string | undefined },
  ): Promise<{ readonly kind: 'blocked' | 'already'; readonly block: PayerBlock }>
  /** Lifts a block; false when the payer was not blocked. */
  unblock(payer: Address): Promise<boolean>
  /** The block in force for `payer`, if any: one read, on the request path of a voucher. */
  get(payer: Address): Promise<PayerBlock | undefined>
  /** Up to `limit` blocks, oldest first. */
  list(limit: number): Promise<PayerBlock[]>
}

/** Queries over many channels, for the settler and the close watcher (not on the request path). */
export type ChannelIndex = {
  /** Channels that may have spent value not settled on chain, with when that started (ms). */
  unsettled(limit: number): Promise<{ channelId: Hex; since: number | undefined }[]>
  /** Channels that are open, for reconciliation against the chain. */
  open(limit: number): Promise<Hex[]>
}

/** Orders blocks by when they were made, then by address. */
export function byBlockTime(a: PayerBlock, b: PayerBlock): number {
  return a.since - b.since || (a.payer < b.payer ? -1 : 1)
}

/** Orders `channelsOf` results: most recently updated first, then by channel id. */
export function byRecentUse(a: ChannelRecord, b: ChannelRecord): number {
  return b.updatedAt - a.updatedAt || (a.channelId < b.channelId ? -1 : 1)
}

/**
 * Spent value the settle voucher covers that is not settled on chain yet: what a `settle` would
 * claim now (0 when nothing, or when the chain is ahead of the settle voucher).
 */
export function settleableOf(channel: ChannelRecord): bigint {
  const voucher = channel.settleVoucher
  return voucher && voucher.cumulative > channel.settled ? voucher.cumulative - channel.settled : 0n
}

/** The receipt-facing figures of a record. */
export function snapshotOf(channel: ChannelRecord): ChannelSnapshot {
  return {
    channelId: channel.channelId,
    accepted: channel.accepted.cumulative,
    spent: channel.spent,
    units: channel.units,
    reserved: channel.reserved,
    deposit: channel.deposit,
  }
}
