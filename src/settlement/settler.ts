/**
 * The settler: off the request path, it turns spent value into on-chain settlements, on schedule
 * and always ahead of a payer's forced close.
 *
 * Each round it first reconciles intents left pending by earlier rounds or other processes (a
 * crash between broadcast and record is repaired here), then looks at channels with unsettled
 * value and settles those the policy says are due, up to 32 channels at a time (their receipts are
 * awaited together). Between rounds, a charge that takes a channel's settleable value to the
 * amount threshold is told to the settler (`charged`), which settles that channel on a later turn
 * of the event loop instead of at the next poll (see "Why a crossing is settled at once"). Every settlement holds the channel's lock (one writer across instances) and
 * goes through `submit` (intent persisted before broadcast). Failures
 * back off exponentially with jitter per channel; an unknown outcome is never "retried" with a new
 * transaction, only reconciled. While the ledger is down (`ledger-unavailable`) rounds fail early
 * and harmlessly; the outage is logged once (outage-log.ts) and settlement picks up where it left
 * off when Redis returns. A lock that cannot be released lapses by its TTL.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Hex } from 'viem'
import { closeGracePeriodSeconds } from '../chain/escrow-abi.js'
import { errorSummary } from '../failure-log.js'
import type { ChannelIndex, ChannelRecord, LedgerPort } from '../ledger/port.js'
import { createOutageLog } from './outage-log.js'
import { failureResult, outcomeResult, type AttemptResult } from './attempts.js'
import { settlementDue, type SettlementPolicy } from './policy.js'
import type { Lease, SettlementStore } from './store.js'
import { reconcile, submit, type SubmitContext, type SubmitOutcome } from './submit.js'
import { inParallel, parallelChannels } from './parallel.js'

export type SettlerOptions = {
  readonly ledger: LedgerPort
  readonly index: ChannelIndex
  readonly submit: SubmitContext
  readonly store: SettlementStore
  readonly policy: SettlementPolicy
  /** This instance's lock owner id. */
  readonly owner: string
  readonly lockTtlMs: number
  readonly pollIntervalMs: number
  readonly maxAttempts: number
  /** A forced close whose settlement has not landed this long before the grace period ends is an alarm. */
  readonly closeMarginSeconds: number
  readonly logger: Logger
  readonly now: () => number
  /** Told how every attempt ended (the gateway's metrics). */
  readonly onAttempt?: (result: AttemptResult) => void
}

/** What an operator's settle-now came to for one channel (the admin API's answer). */
export type ChannelSettlement =
  | {
      readonly kind: 'settled'
      readonly channelId: Hex
      readonly action: 'settle' | 'close'
      readonly txHash: Hex
      /** The voucher's cumulative amount the transaction carried. */
      readonly cumulative: bigint
      /** Settled on chain for the channel after it, in base units. */
      readonly settled: bigint
    }
  /** The settle voucher covers nothing that is not settled already (or the channel is gone). */
  | { readonly kind: 'nothing-due'; readonly channelId: Hex }
  /** Another writer kept the channel's lock for a whole lock TTL; nothing was sent. */
  | { readonly kind: 'busy'; readonly channelId: Hex }
  /** Sent, outcome still unknown: the settler reconciles it from the chain. */
  | { readonly kind: 'pending'; readonly channelId: Hex; readonly txHash: Hex }
  /** Reverted, landed without effect, or expired unincluded. */
  | { readonly kind: 'failed'; readonly channelId: Hex; readonly reason: string }

export type Settler = {
  start(): void
  /**
   * Settles these channels now, whatever the policy says (an operator's request): each through
   * the channel's lock and an intent, like every settlement, so one writer per channel holds
   * across instances. Waits up to a lock TTL for a channel another writer holds.
   */
  settleNow(channelIds: readonly Hex[]): Promise<ChannelSettlement[]>
  /** One full round now (tests, and the watcher when a close is requested). */
  runOnce(options?: { shuttingDown?: boolean }): Promise<void>
  /** Asks for a round as soon as possible. */
  nudge(): void
  /**
   * Told of a charge on `channelId` after which a settlement would claim `settleable`: when that
   * reaches the amount threshold the channel is settled as soon as possible, not at the next poll.
   * Cheap and synchronous — a comparison and a set insertion — so the request path may call it;
   * the settlement itself runs on a later turn of the event loop, once per channel however many
   * charges crossed meanwhile.
   */
  charged(channelId: Hex, settleable: bigint): void
  /** Stops after the round in progress; with `settleAll`, runs a final shutdown round first. */
  stop(options?: { settleAll?: boolean }): Promise<void>
}

type Backoff = { attempts: number; notBefore: number }

const baseDelayMs = 500
const maxDelayMs = 60_000

/**
 * Why a crossing is settled at once. A round finds a channel due only when it polls, so with
 * paid traffic flowing every settlement claimed the threshold plus whatever was charged until the
 * next poll (a soak at 0.3 settled a median of 0.32; the count fell 7 % short of spent/threshold).
 * The ledger already tells each charge what a settlement would claim (`settleable`), so the charge
 * that reaches the threshold names its channel here, and that channel alone is settled right
 * away, with the figures of that moment.
 *
 * Why not on the request's turn: a settlement is Redis and chain work, and the request's answer
 * must not wait for it. `charged` only records the channel; a `setImmediate` starts the work.
 * Why coalesced: every charge after the crossing reports a settleable above the threshold until
 * the settlement lands; a channel is recorded once, and one being settled (by a crossing, a round
 * or the shutdown round of this process) is looked at again only after that settlement ended —
 * by then `settled` moved, and it is due only if the threshold was reached again.
 * Why one in-process guard besides the channel lock: this settler's rounds and crossings take
 * the lock under the same owner, and an owner may take its own lock again.
 */
export function createSettler(options: SettlerOptions): Settler {
  const { ledger, store, logger, now } = options
  const outage = createOutageLog(logger, 'settlement')
  const backoff = new Map<Hex, Backoff>()
  const firstSeen = new Map<Hex, number>()
  /** Channels a charge took to the threshold, not yet taken up. */
  const crossed = new Set<Hex>()
  /** Channels this settler's rounds and crossings are working on right now. */
  const working = new Set<Hex>()
  /** Crossing settlements in flight (at most `parallelChannels`); `stop` waits for them. */
  const crossings = new Set<Promise<void>>()
  let crossingScheduled = false
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let stopped = false
  let again = false

  const fail = (channelId: Hex, reason: string, error?: unknown) => {
    const previous = backoff.get(channelId)?.attempts ?? 0
    const attempts = previous + 1
    // Exponential with full jitter: instances retrying the same failing RPC do not synchronize.
    const delay = Math.min(maxDelayMs, baseDelayMs * 2 ** previous) * (0.5 + Math.random() / 2)
    backoff.set(channelId, { attempts, notBefore: now() + delay })
    const level = attempts >= options.maxAttempts ? 'error' : 'warn'
    outage.failed(error, `settlement not done: ${reason}`, {
      fields: { channelId, attempts },
      level,
    })
  }

  /** Gives the channel back; a failure only delays others until the lock's TTL runs out. */
  const release = async (lease: Lease) => {
    try {
      await store.release(lease)
    } catch (error) {
      outage.failed(error, 'settlement lock not released', {
        fields: { channelId: lease.channelId },
      })
    }
  }

  const note = (channelId: Hex, outcome: SubmitOutcome | undefined) => {
    if (!outcome) return
    options.onAttempt?.(outcomeResult(outcome))
    switch (outcome.kind) {
      case 'confirmed':
        backoff.delete(channelId)
        firstSeen.delete(channelId)
        return
      case 'expired':
        return
      case 'pending':
        return fail(channelId, 'outcome unknown, will reconcile', outcome.error)
      case 'reverted':
        return fail(channelId, `transaction ${outcome.intent.txHash} reverted`)
      case 'lost-lease':
        return
    }
  }

  /**
   * Takes the channel's lock for an operator's request, waiting up to a lock TTL for a writer
   * that holds it (this process's own rounds and closes included: the owner is unique per call,
   * because an owner may take its own lock again).
   */
  const acquireRequested = async (channelId: Hex): Promise<Lease | undefined> => {
    const owner = `${options.owner}/requested/${randomUUID()}`
    const deadline = now() + options.lockTtlMs
    for (;;) {
      const lease = await store.acquire(channelId, owner, options.lockTtlMs)
      if (lease || now() >= deadline) return lease
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  /**
   * Settles one channel if due (see `settleLeased`). A round's, a crossing's or the shutdown
   * round's attempt on a channel this settler is already working on is skipped (`busy`): it would
   * take the same owner's lock again. An operator's request takes a lock of its own and waits.
   */
  const settleChannel = async (
    channelId: Hex,
    since: number | undefined,
    mode: 'scheduled' | 'shutdown' | 'requested',
  ): Promise<ChannelSettlement> => {
    if (mode === 'requested') return settleLeased(channelId, since, mode)
    if (working.has(channelId)) return { kind: 'busy', channelId }
    working.add(channelId)
    try {
      return await settleLeased(channelId, since, mode)
    } finally {
      working.delete(channelId)
      if (crossed.size > 0) scheduleCrossings()
    }
  }

  /** The policy's decision for `record`, noting when its unsettled value was first seen. */
  const decide = (
    record: ChannelRecord,
    since: number | undefined,
    mode: 'scheduled' | 'shutdown' | 'requested',
  ) => {
    if (
      since === undefined &&
      record.settleVoucher &&
      record.settleVoucher.cumulative > record.settled &&
      !firstSeen.has(record.channelId)
    ) {
      firstSeen.set(record.channelId, now())
    }
    return settlementDue(record, {
      policy: options.policy,
      now: now(),
      unsettledSince: since ?? firstSeen.get(record.channelId),
      shuttingDown: mode === 'shutdown',
      requested: mode === 'requested',
    })
  }

  /**
   * Whether a round's or a crossing's look at a channel needs its lock: a pending intent to
   * reconcile, or a settlement the policy says is due. Why ask before locking: a round looks at
   * every channel with unsettled value each poll, and most are below every threshold; taking and
   * giving back each one's lock (two scripts and a fencing increment in Redis) only to find that
   * out cost more Redis work than the paid requests at low traffic (issue 10's bench counted it).
   * Two plain reads decide it; what is found due is decided again under the lock.
   */
  const worthLocking = async (channelId: Hex, since: number | undefined) => {
    const [intent, record] = await Promise.all([store.intent(channelId), ledger.get(channelId)])
    if (intent) return true
    return record !== undefined && decide(record, since, 'scheduled').kind !== 'none'
  }

  /**
   * Settles one channel if due, holding its lock for the whole attempt. `requested`: an operator
   * asked — no back-off, and whatever the settle voucher covers is due.
   */
  const settleLeased = async (
    channelId: Hex,
    since: number | undefined,
    mode: 'scheduled' | 'shutdown' | 'requested',
  ): Promise<ChannelSettlement> => {
    // A scheduled round skips a channel still backing off (rounds ignore the result); an
    // operator's request and the shutdown round do not wait.
    const wait = backoff.get(channelId)
    if (wait && wait.notBefore > now() && mode === 'scheduled') return { kind: 'busy', channelId }
    if (mode === 'scheduled' && !(await worthLocking(channelId, since))) {
      return { kind: 'nothing-due', channelId }
    }
    const lease =
      mode === 'requested'
        ? await acquireRequested(channelId)
        : await store.acquire(channelId, options.owner, options.lockTtlMs)
    if (!lease) return { kind: 'busy', channelId }
    try {
      const pending = await reconcile(options.submit, channelId)
      note(channelId, pending)
      if (pending?.kind === 'pending') {
        return { kind: 'pending', channelId, txHash: pending.intent.txHash }
      }
      const record = await ledger.get(channelId)
      if (!record) return { kind: 'nothing-due', channelId }
      const decision = decide(record, since, mode)
      if (record.closeRequestedAt !== 0) {
        const graceEnd = (record.closeRequestedAt + Number(closeGracePeriodSeconds)) * 1000
        if (decision.kind !== 'none' && now() > graceEnd - options.closeMarginSeconds * 1000) {
          logger.error(
            { channelId, graceEnd: new Date(graceEnd).toISOString() },
            'forced close nears its end with value unsettled',
          )
        }
      }
      if (decision.kind === 'none') return { kind: 'nothing-due', channelId }
      // Debug, not info: the outcome has its own line ('channel settled' / 'channel closed' at
      // info, one per landed transaction, or a warning), and the attempt is counted
      // (mppgw_settlement_attempts_total); a second info line per settlement cost CPU on a
      // settle-all of many channels (issue 10) and told an operator nothing the outcome does not.
      logger.debug(
        {
          channelId,
          reason: decision.reason,
          amount: decision.amount.toString(),
          cumulative: decision.voucher.cumulative.toString(),
        },
        decision.kind === 'close' ? 'closing channel' : 'settling channel',
      )
      const outcome = await submit(
        options.submit,
        lease,
        decision.kind === 'close'
          ? {
              functionName: 'close',
              descriptor: record.descriptor,
              cumulative: decision.voucher.cumulative,
              capture: decision.capture,
              signature: decision.voucher.signature,
            }
          : {
              functionName: 'settle',
              descriptor: record.descriptor,
              cumulative: decision.voucher.cumulative,
              signature: decision.voucher.signature,
            },
      )
      note(channelId, outcome)
      switch (outcome.kind) {
        case 'confirmed':
          return {
            kind: 'settled',
            channelId,
            action: outcome.intent.kind,
            txHash: outcome.intent.txHash,
            cumulative: outcome.intent.cumulative,
            settled: outcome.settled,
          }
        case 'pending':
          return { kind: 'pending', channelId, txHash: outcome.intent.txHash }
        case 'reverted':
          return {
            kind: 'failed',
            channelId,
            reason: `transaction ${outcome.intent.txHash} reverted`,
          }
        case 'expired':
          return { kind: 'failed', channelId, reason: 'transaction expired unincluded' }
        case 'lost-lease':
          return { kind: 'busy', channelId }
      }
    } catch (error) {
      options.onAttempt?.(failureResult(error))
      fail(channelId, 'error', error)
      return { kind: 'failed', channelId, reason: errorSummary(error) }
    } finally {
      await release(lease)
    }
  }

  const reconcileChannel = async (channelId: Hex) => {
    if (working.has(channelId)) return
    working.add(channelId)
    try {
      const lease = await store.acquire(channelId, options.owner, options.lockTtlMs)
      if (!lease) return
      try {
        note(channelId, await reconcile(options.submit, channelId))
      } catch (error) {
        options.onAttempt?.(failureResult(error))
        fail(channelId, 'reconciliation failed', error)
      } finally {
        await release(lease)
      }
    } finally {
      working.delete(channelId)
      if (crossed.size > 0) scheduleCrossings()
    }
  }

  /**
   * Settles the channels charges took to the threshold (see "Why a crossing is settled at once"):
   * those no one in this settler is working on, up to `parallelChannels` crossings in flight; the
   * others wait in `crossed` until a slot or their channel is free again.
   */
  const takeCrossings = () => {
    crossingScheduled = false
    if (stopped) return
    for (const channelId of crossed) {
      if (crossings.size >= parallelChannels) return
      if (working.has(channelId)) continue
      crossed.delete(channelId)
      // Not an outage round: rounds run one at a time, crossings beside them. A failure here
      // (the lock could not be taken) is logged like a round's, and the next round retries.
      const work: Promise<void> = settleChannel(channelId, undefined, 'scheduled')
        .then(
          () => undefined,
          (error: unknown) => {
            outage.failed(error, 'settlement at the threshold failed', { fields: { channelId } })
          },
        )
        .finally(() => {
          crossings.delete(work)
          if (crossed.size > 0) scheduleCrossings()
        })
      crossings.add(work)
    }
  }

  const scheduleCrossings = () => {
    if (crossingScheduled || stopped) return
    crossingScheduled = true
    setImmediate(takeCrossings)
  }

  const round = async (shuttingDown: boolean) => {
    const pending = await store.pendingIntents()
    await inParallel(pending, reconcileChannel)
    const unsettled = await options.index.unsettled(1_000)
    await inParallel(unsettled, async ({ channelId, since }) => {
      if (stopped && !shuttingDown) return
      await settleChannel(channelId, since, shuttingDown ? 'shutdown' : 'scheduled')
    })
    // Back-off and first-seen times matter only for channels still listed; a channel that was
    // settled, closed or finalized (by this process or any other) drops out of both lists, so
    // the maps stay as large as the channels with work left.
    const listed = new Set<Hex>([...pending, ...unsettled.map((u) => u.channelId)])
    for (const id of backoff.keys()) if (!listed.has(id)) backoff.delete(id)
    for (const id of firstSeen.keys()) if (!listed.has(id)) firstSeen.delete(id)
  }

  const runOnce = (opts: { shuttingDown?: boolean } = {}): Promise<void> => {
    if (running) {
      again = true
      return running
    }
    running = outage
      .round(() => round(opts.shuttingDown ?? false), 'settlement round failed', { level: 'error' })
      .finally(() => {
        running = undefined
      })
    return running
  }

  const schedule = (delay: number) => {
    if (stopped) return
    timer = setTimeout(() => {
      void runOnce().then(() => {
        const next = again ? 0 : options.pollIntervalMs
        again = false
        schedule(next)
      })
    }, delay)
    timer.unref()
  }

  return {
    start() {
      schedule(0)
    },
    async settleNow(channelIds) {
      const results: ChannelSettlement[] = []
      await inParallel(channelIds, async (channelId) => {
        results.push(await settleChannel(channelId, undefined, 'requested'))
      })
      const order = new Map(channelIds.map((id, i) => [id, i]))
      return results.sort((a, b) => (order.get(a.channelId) ?? 0) - (order.get(b.channelId) ?? 0))
    },
    runOnce,
    charged(channelId, settleable) {
      if (stopped || settleable < options.policy.amountThreshold) return
      crossed.add(channelId)
      scheduleCrossings()
    },
    nudge() {
      if (stopped) return
      if (running) {
        again = true
        return
      }
      if (timer) clearTimeout(timer)
      schedule(0)
    },
    async stop(opts = {}) {
      stopped = true
      if (timer) clearTimeout(timer)
      crossed.clear()
      await running
      await Promise.allSettled([...crossings])
      if (opts.settleAll) {
        await outage.round(() => round(true), 'shutdown settlement failed', { level: 'error' })
      }
    },
  }
}
