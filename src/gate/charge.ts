/**
 * The charge of one paid request: the price held in a reservation when the credential was
 * accepted, and the single decision that turns it into spent value or gives it back.
 *
 * The decision is taken exactly once, at the first of these moments, whatever happens later:
 *  - `atHead(status)` — the upstream's response head arrived: a served status commits (under
 *    `charge: always` every status does), any other releases. The commit is acknowledged by the
 *    ledger before our head is written, so a delivered answer's charge is durable before it leaves;
 *  - `withoutHead(error)` — the exchange ended with no upstream head: the upstream failed or timed
 *    out, the request body was refused, or the client left (`error` undefined). Releases (commits
 *    under `charge: always`).
 * Later calls return the first decision; nothing is ever committed and released, or decided twice.
 *
 * Every answer the client gets carries a `Payment-Receipt` with the channel's true `spent` after
 * the decision — the relayed upstream error as much as the 200 (see protocol/receipt.ts for why).
 *
 * When the commit's outcome is unknown (Redis timed out or dropped the connection: the script may
 * have run, or may still run), the same commit is retried for `resolveMs` (gate/unresolved.ts);
 * if Redis is still silent, the answer is delivered anyway and the retries go on in the
 * background until the ledger answers or the reservation lapses. Why deliver:
 * the alternative — an error answer — leaves the payer charged for nothing if the commit did run,
 * and no answer can be taken back once the payer paid for it; delivering on an unknown commit
 * risks only that the operator is not paid for an answer (if the commit never ran and the
 * reservation lapsed before Redis came back), which the metrics count. docs/DESIGN.md has the table
 * of every exit path.
 */
import type { Logger } from 'pino'
import type { Hex } from 'viem'
import { GatewayError } from '../errors.js'
import { snapshotOf, type ChannelSnapshot, type LedgerPort } from '../ledger/port.js'
import type { AnswerPrice } from '../pricing/metered.js'
import type { Route } from '../pricing/route-table.js'
import { sessionReceipt } from '../protocol/receipt.js'
import type { Reservation } from '../session/authorize.js'
import type { SessionOutcome } from '../session/dispatch.js'
import type { Answer } from './answer.js'
import type { HoldConfirms } from './confirms.js'
import type { UnresolvedCharges } from './unresolved.js'

/** How a charge ended. `charged` is the value this request made spent. */
export type Resolution =
  | {
      readonly kind: 'committed'
      readonly snapshot: ChannelSnapshot
      readonly charged: bigint
      /** A metered route's price of the answer: its units and how it was found. */
      readonly priced?: AnswerPrice | undefined
    }
  | { readonly kind: 'released'; readonly snapshot: ChannelSnapshot; readonly charged: 0n }
  /** The commit's outcome is unknown: delivered, and reconciled in the background. */
  | { readonly kind: 'unknown'; readonly snapshot: ChannelSnapshot; readonly charged: undefined }
  /** The commit was refused (reservation lapsed, channel closed): the answer is not delivered. */
  | {
      readonly kind: 'refused'
      readonly snapshot: ChannelSnapshot
      readonly charged: 0n
      readonly error: GatewayError
    }

export type HeadDecision =
  | { readonly kind: 'deliver'; readonly headers: Readonly<Record<string, string>> }
  | { readonly kind: 'refuse'; readonly answer: Answer }

/** How any charge ended, as the access line and the metrics see it. */
export type ChargeResolution = {
  readonly kind: Resolution['kind']
  /** The value this request was charged; `undefined` while unknown. */
  readonly charged: bigint | undefined
  /** A metered route's price of the answer, when it was committed. */
  readonly priced?: AnswerPrice | undefined
}

/**
 * The charge of one paid request, whatever pays it: a session voucher (this module) or a one-shot
 * payment (gate/payment.ts). The relay calls exactly one of `atHead` / `withoutHead`.
 */
export type Charge = {
  readonly route: Route
  /** The session credential that pays, when a session does. */
  readonly session?: SessionOutcome | undefined
  /** The one-shot payment that pays, when one does: its transaction hash and how it was sent. */
  readonly payment?: { readonly txHash: Hex; readonly mode: 'pull' | 'push' } | undefined
  /**
   * The upstream's head arrived with `status`: decide, and say what our head carries. A metered
   * route passes the answer's `price` (at most the reservation): a commit charges that much and
   * releases the rest of the reservation in the same step. One-shot payments are never metered.
   */
  atHead(status: number, price?: AnswerPrice): Promise<HeadDecision>
  /**
   * The exchange ended with no upstream head; `error` is what the client is answered with, or
   * `undefined` when the client is gone. Returns that answer, with the receipt.
   */
  withoutHead(error: GatewayError | undefined): Promise<Answer | undefined>
  /**
   * The request is answered without forwarding it (a retry answered from a stored copy, or
   * refused): the reservation is released (a one-shot payment is not sent) whatever the route's
   * policy. Returns the receipt (none for a one-shot payment that was not sent), and
   * the problem answer for `error` when one is given.
   */
  cancel(error?: GatewayError): Promise<{ receipt: string | undefined; answer: Answer | undefined }>
  /** The decision, once taken. */
  resolution(): ChargeResolution | undefined
}

/**
 * Told of every charge the ledger confirmed: its channel, and what a settlement would claim after
 * it (the settler's `charged`, settlement/settler.ts). Synchronous and cheap: it runs on the
 * request's turn, before the answer's head is written.
 */
export type ChargedSignal = (channelId: Hex, settleable: bigint) => void

export type ChargeDeps = {
  readonly ledger: LedgerPort
  /** When a settler runs in this process: how it hears of a channel reaching its threshold. */
  readonly onCharged?: ChargedSignal | undefined
  readonly unresolved: UnresolvedCharges
  /** Where served holds are confirmed (gate/confirms.ts); they lapse final without it. */
  readonly confirms?: HoldConfirms | undefined
  readonly logger: Logger
  readonly now: () => number
  /** How long an unknown commit is retried before the answer goes out regardless. */
  readonly resolveMs: number
  /** A problem answer for this request, with the receipt attached. */
  readonly problem: (error: GatewayError, receipt: string) => Answer
}

export function createCharge(
  deps: ChargeDeps,
  route: Route,
  session: SessionOutcome,
): Charge & { readonly channelId: Hex; readonly session: SessionOutcome } {
  const { ledger, now } = deps
  const { channelId, reservation } = session
  let decided: Resolution | undefined
  let deciding: Promise<Resolution> | undefined

  const commit = async (priced: AnswerPrice | undefined): Promise<Resolution> => {
    if (!reservation) return { kind: 'committed', snapshot: session.snapshot, charged: 0n }
    // A hold was charged, durably, when the credential was accepted: nothing left to write on
    // this request's path. It is confirmed in the background so it is settleable before it lapses.
    if (reservation.kind === 'hold') {
      deps.confirms?.add(channelId, reservation.id)
      return { kind: 'committed', snapshot: session.snapshot, charged: reservation.amount }
    }
    // Never more than the payer's voucher was checked for: the reservation is the maximum.
    const amount =
      priced === undefined || priced.amount > reservation.amount ? undefined : priced.amount
    try {
      const committed = await ledger.commit(channelId, reservation.id, now(), amount)
      switch (committed.kind) {
        case 'committed':
          deps.onCharged?.(channelId, committed.settleable)
          return {
            kind: 'committed',
            snapshot: committed.snapshot,
            charged: amount ?? reservation.amount,
            priced,
          }
        case 'finalized':
          return refused(
            new GatewayError(
              'channel-finalized',
              'The channel closed before this answer was paid.',
            ),
          )
        case 'missing':
          return refused(
            new GatewayError(
              'reservation-expired',
              'The payment held for this request lapsed before the upstream answered.',
              { retryAfter: 1 },
            ),
          )
      }
    } catch (error) {
      if (!(error instanceof GatewayError)) {
        deps.logger.error({ err: error, channelId }, 'commit failed')
      }
      return unknownCommit(reservation, amount ?? reservation.amount, priced)
    }
  }

  /** The commit's outcome is unknown: retry it briefly, then deliver whatever it turns out to be. */
  const unknownCommit = async (
    held: Reservation,
    amount: bigint,
    priced: AnswerPrice | undefined,
  ): Promise<Resolution> => {
    const outcome = await deps.unresolved.resolve(
      { channelId, reservation: held, amount },
      deps.resolveMs,
    )
    // The figures if the commit landed: an upper bound of what this request cost the payer.
    const s = session.snapshot
    const estimate = {
      ...s,
      spent: s.spent + amount,
      units: s.units + 1,
      reserved: s.reserved - held.amount,
    }
    switch (outcome) {
      case 'committed':
      case 'landed': {
        const record = await ledger.get(channelId).catch(() => undefined)
        const snapshot = record ? snapshotOf(record) : estimate
        return { kind: 'committed', snapshot, charged: amount, priced }
      }
      case 'finalized':
      case 'lapsed':
      case 'pending':
        // Delivered either way: if the first commit landed, the answer is paid for; if not, the
        // operator forgoes one price (counted), and the payer is never charged for nothing.
        return { kind: 'unknown', snapshot: estimate, charged: undefined }
    }
  }

  const refused = (error: GatewayError): Resolution => ({
    kind: 'refused',
    snapshot: session.snapshot,
    charged: 0n,
    error,
  })

  const release = async (): Promise<Resolution> => {
    if (!reservation) return { kind: 'released', snapshot: session.snapshot, charged: 0n }
    if (reservation.kind === 'hold') return refund(reservation)
    try {
      const released = await ledger.release(channelId, reservation.id, now())
      const snapshot = released.kind === 'released' ? released.snapshot : session.snapshot
      return { kind: 'released', snapshot, charged: 0n }
    } catch (error) {
      // Nothing is lost: an unresolved reservation lapses by itself and charges nothing.
      if (!(error instanceof GatewayError)) {
        deps.logger.error({ err: error, channelId }, 'release failed')
      }
      return { kind: 'released', snapshot: session.snapshot, charged: 0n }
    }
  }

  /** Gives a hold's charge back: the answer was not served. */
  const refund = async (held: Reservation): Promise<Resolution> => {
    try {
      const refunded = await ledger.release(channelId, held.id, now())
      if (refunded.kind === 'released') {
        return { kind: 'released', snapshot: refunded.snapshot, charged: 0n }
      }
      // The hold lapsed before the answer's fate was known (a request longer than its
      // reservation time): the charge is final.
      deps.logger.warn({ channelId }, 'a hold lapsed before its refund: the charge stands')
      return { kind: 'committed', snapshot: session.snapshot, charged: held.amount }
    } catch (error) {
      if (!(error instanceof GatewayError)) {
        deps.logger.error({ err: error, channelId }, 'refund failed')
      }
      // Redis is silent: the refund is retried in the background until the hold would lapse;
      // the answer states the figures the refund leaves.
      deps.unresolved.refund({ channelId, reservation: held })
      const s = session.snapshot
      const snapshot = { ...s, spent: s.spent - held.amount, units: s.units - 1 }
      return { kind: 'released', snapshot, charged: 0n }
    }
  }

  const decide = (serve: boolean, priced?: AnswerPrice): Promise<Resolution> => {
    deciding ??= (serve ? commit(priced) : release()).then((r) => (decided = r))
    return deciding
  }

  // A metered route's receipt states what this answer cost; a flat route's is its price.
  const receipt = (snapshot: ChannelSnapshot, charged?: bigint) =>
    receiptOf(session, snapshot, now(), route.metered ? charged : undefined)
  const receiptFor = (resolution: Resolution) => receipt(resolution.snapshot, resolution.charged)

  return {
    channelId,
    route,
    session,
    async atHead(status, price) {
      const resolution = await decide(route.charge === 'always' || route.served(status), price)
      if (resolution.kind === 'refused') {
        return {
          kind: 'refuse',
          answer: deps.problem(resolution.error, receipt(resolution.snapshot)),
        }
      }
      return {
        kind: 'deliver',
        headers: {
          'payment-receipt': receipt(resolution.snapshot, resolution.charged),
          'cache-control': 'private',
        },
      }
    },
    async withoutHead(error) {
      const resolution = await decide(route.charge === 'always')
      return error
        ? deps.problem(error, receipt(resolution.snapshot, resolution.charged))
        : undefined
    },
    async cancel(error) {
      const resolution = await decide(false)
      const receipt = receiptFor(resolution)
      return { receipt, answer: error ? deps.problem(error, receipt) : undefined }
    },
    resolution: () => decided,
  }
}

/**
 * The `Payment-Receipt` of an answer to `session`'s credential, with the channel at `snapshot`;
 * `amount` (metered routes) is what this answer was charged.
 */
export function receiptOf(
  session: SessionOutcome,
  snapshot: ChannelSnapshot,
  now: number,
  amount?: bigint,
): string {
  // The voucher this credential presented, so a receipt never confirms more than the client
  // signed (mppx refuses one that does) — unless spent is already above it (a lower voucher paid
  // from headroom): a receipt never states `spent` above `acceptedCumulative`.
  const { accepted, spent } = snapshot
  const presented = session.voucherAmount ?? accepted
  const confirmed = presented >= spent ? presented : spent
  return sessionReceipt({
    channelId: session.channelId,
    challengeId: session.challengeId,
    acceptedCumulative: confirmed < accepted ? confirmed : accepted,
    spent: snapshot.spent,
    units: snapshot.units,
    txHash: session.txHash,
    now,
    amount,
  })
}
