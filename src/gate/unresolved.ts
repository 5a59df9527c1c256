/**
 * Charges whose commit outcome is unknown, resolved by sending the same commit again.
 *
 * A commit that timed out or lost its connection may have run in Redis, may still run (a frozen
 * server executes what is queued when it resumes), or may never run. `resolve` retries it for a
 * short while before the answer goes out — a Redis restart or failover is usually over by then, and
 * the charge is then durable before the answer leaves, as always. If Redis is still silent, the
 * answer is delivered (gate/charge.ts says why) and the retries go on in the background until the
 * ledger answers or the reservation lapses.
 *
 * Why sending it again is safe: a commit names its reservation, and a reservation is resolved at
 * most once (ledger/port.ts). If the first commit ran, the retry finds nothing to commit
 * (`missing`, reported as `landed`: before its expiry a reservation only disappears by being
 * resolved, and this request is its only resolver); if it never ran, the retry commits now. Commands
 * on one connection run in order, so a first commit still queued runs before the retry. Once the
 * reservation's expiry has passed a commit can no longer charge anything (the ledger refuses lapsed
 * reservations), so tracking stops: the charge is resolved either way.
 *
 * Background resolutions are counted (`onResolved`), so an operator sees how often answers went out
 * with their charge unconfirmed and how many of those were never paid (`lapsed`).
 */
import type { Logger } from 'pino'
import type { Hex } from 'viem'
import type { LedgerPort } from '../ledger/port.js'
import type { Reservation } from '../session/authorize.js'

/**
 * How an unknown commit ended: `committed` by a retry, `landed` (the first one had run),
 * `finalized` (the channel closed meanwhile), `lapsed` (the reservation expired before Redis
 * answered: never paid). How an unknown refund of a hold ended: `refunded` by a retry,
 * `refund-landed` (the first one had run), `refund-lapsed` (the hold lapsed before Redis answered:
 * the payer stays charged for an answer that was not served).
 */
export type UnresolvedOutcome = CommitOutcome | RefundOutcome
type CommitOutcome = 'committed' | 'landed' | 'finalized' | 'lapsed'
type RefundOutcome = 'refunded' | 'refund-landed' | 'refund-lapsed'

/** A commit to retry: of `amount` (a response-priced charge) or of the whole reservation. */
type Pending = { channelId: Hex; reservation: Reservation; amount?: bigint | undefined }

export type UnresolvedCharges = {
  /**
   * Retries the commit for up to `withinMs`; `pending` when Redis stayed silent, in which case
   * the retries go on in the background.
   */
  resolve(charge: Pending, withinMs: number): Promise<CommitOutcome | 'pending'>
  /**
   * Retries the refund of a hold in the background until the ledger answers or the hold lapses.
   * Sending it again is safe for the same reason as a commit: a hold is resolved at most once.
   */
  refund(charge: Pending): void
  /** Charges still waiting for the ledger. */
  size(): number
  /** Stops retrying; charges still open are left to lapse (and logged). */
  stop(): void
}

type Entry = Pending & { action: 'commit' | 'refund'; attempts: number; dueAt: number }

export function createUnresolvedCharges(options: {
  ledger: LedgerPort
  logger: Logger
  now: () => number
  onResolved?: (outcome: UnresolvedOutcome) => void
  /** First retry delay; doubled per attempt up to `maxDelayMs`. */
  retryMs?: number
  maxDelayMs?: number
}): UnresolvedCharges {
  const { ledger, logger, now } = options
  const retryMs = options.retryMs ?? 200
  const maxDelayMs = options.maxDelayMs ?? 2_000
  const entries = new Map<string, Entry>()
  let timer: NodeJS.Timeout | undefined
  let running = false
  let stopped = false

  const resolved = (entry: Entry, outcome: UnresolvedOutcome) => {
    entries.delete(entry.reservation.id)
    logger.info(
      { channelId: entry.channelId, outcome, attempts: entry.attempts },
      entry.action === 'refund' ? 'unknown refund resolved' : 'unknown commit resolved',
    )
    options.onResolved?.(outcome)
  }

  /** Waits longer after each failed attempt. */
  const backOff = (entry: Entry) => {
    entry.dueAt = now() + Math.min(maxDelayMs, retryMs * 2 ** (entry.attempts - 1))
  }

  /** One commit retry; the outcome, or undefined when Redis did not answer. */
  const retryCommit = async (entry: Entry): Promise<CommitOutcome | undefined> => {
    if (now() >= entry.reservation.expiresAt) return 'lapsed'
    entry.attempts += 1
    try {
      const result = await ledger.commit(entry.channelId, entry.reservation.id, now(), entry.amount)
      return result.kind === 'missing' ? 'landed' : result.kind
    } catch {
      backOff(entry)
      return undefined
    }
  }

  /** One refund retry; the outcome, or undefined when Redis did not answer. */
  const retryRefund = async (entry: Entry): Promise<RefundOutcome | undefined> => {
    if (now() >= entry.reservation.expiresAt) return 'refund-lapsed'
    entry.attempts += 1
    try {
      const result = await ledger.release(entry.channelId, entry.reservation.id, now())
      return result.kind === 'released' ? 'refunded' : 'refund-landed'
    } catch {
      backOff(entry)
      return undefined
    }
  }

  const retry = (entry: Entry) =>
    entry.action === 'refund' ? retryRefund(entry) : retryCommit(entry)

  const attempt = async (entry: Entry): Promise<void> => {
    const outcome = await retry(entry)
    if (outcome) resolved(entry, outcome)
  }

  const schedule = () => {
    if (stopped || running || timer || entries.size === 0) return
    const next = Math.min(...[...entries.values()].map((e) => e.dueAt))
    timer = setTimeout(() => void round(), Math.max(0, next - now()))
    timer.unref()
  }

  const round = async () => {
    timer = undefined
    running = true
    try {
      const due = [...entries.values()].filter((e) => e.dueAt <= now())
      // One at a time: a sick Redis gets one retry in flight per gateway, not a burst.
      for (const entry of due) {
        if (stopped) return
        await attempt(entry)
      }
    } finally {
      running = false
      schedule()
    }
  }

  return {
    async resolve({ channelId, reservation, amount }, withinMs) {
      const entry: Entry = {
        channelId,
        reservation,
        amount,
        action: 'commit',
        attempts: 0,
        dueAt: now(),
      }
      const deadline = now() + withinMs
      for (;;) {
        const outcome = await retryCommit(entry)
        if (outcome) return outcome
        if (stopped || entry.dueAt >= deadline) break
        await new Promise((r) => setTimeout(r, Math.max(0, entry.dueAt - now())))
      }
      if (stopped) return 'pending'
      entries.set(reservation.id, entry)
      logger.warn(
        { channelId, amount: reservation.amount.toString() },
        'commit outcome unknown: answer delivered, commit retried in the background',
      )
      schedule()
      return 'pending'
    },
    refund({ channelId, reservation }) {
      if (stopped) return
      entries.set(reservation.id, {
        channelId,
        reservation,
        action: 'refund',
        attempts: 0,
        dueAt: now() + retryMs,
      })
      logger.warn(
        { channelId, amount: reservation.amount.toString() },
        'refund outcome unknown: retried in the background',
      )
      schedule()
    },
    size: () => entries.size,
    stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      if (entries.size > 0) {
        logger.warn(
          { count: entries.size },
          'stopping with unknown commits; their reservations lapse uncharged',
        )
      }
    },
  }
}
