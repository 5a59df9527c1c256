/**
 * The settler: off the request path, it turns spent value into on-chain settlements, on schedule
 * and always ahead of a payer's forced close.
 *
 * Each round it first reconciles intents left pending by earlier rounds or other processes (a
 * crash between broadcast and record is repaired here), then looks at channels with unsettled
 * value and settles those the policy says are due, up to 32 channels at a time (their receipts are
 * awaited together). Every settlement holds the channel's lock (one writer across instances) and
 * goes through `submit` (intent persisted before broadcast). Failures
 * back off exponentially with jitter per channel; an unknown outcome is never "retried" with a new
 * transaction, only reconciled. While the ledger is down (`ledger-unavailable`) rounds fail early
 * and harmlessly; the outage is logged once (outage-log.ts) and settlement picks up where it left
 * off when Redis returns. A lock that cannot be released lapses by its TTL.
 */
import type { Logger } from 'pino'
import type { Hex } from 'viem'
import { closeGracePeriodSeconds } from '../chain/escrow-abi.js'
import type { ChannelIndex, LedgerPort } from '../ledger/port.js'
import { createOutageLog } from './outage-log.js'
import { failureResult, outcomeResult, type AttemptResult } from './attempts.js'
import { settlementDue, type SettlementPolicy } from './policy.js'
import type { Lease, SettlementStore } from './store.js'
import { reconcile, submit, type SubmitContext, type SubmitOutcome } from './submit.js'

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

export type Settler = {
  start(): void
  /** One full round now (tests, and the watcher when a close is requested). */
  runOnce(options?: { shuttingDown?: boolean }): Promise<void>
  /** Asks for a round as soon as possible. */
  nudge(): void
  /** Stops after the round in progress; with `settleAll`, runs a final shutdown round first. */
  stop(options?: { settleAll?: boolean }): Promise<void>
}

type Backoff = { attempts: number; notBefore: number }

const baseDelayMs = 500
const maxDelayMs = 60_000
/**
 * Channels worked on at once in a round. Why in parallel: each settlement waits for its receipt
 * (a block or more), and all receipts in flight are polled in one batch (chain/receipts.ts), so
 * settling channels one after the other would make a round last a block per due channel. Why
 * bounded: each settlement costs a few RPC calls to sign and one lock in Redis.
 */
const parallelChannels = 32

/**
 * Runs `work` over `items`, at most {@link parallelChannels} at a time. A failure stops its lane
 * only; the call settles once every lane has, then rejects with the first failure (so a round
 * never ends while some of its work still runs).
 */
async function inParallel<T>(items: readonly T[], work: (item: T) => Promise<void>) {
  let next = 0
  const lane = async () => {
    while (next < items.length) {
      const item = items[next] as T
      next += 1
      await work(item)
    }
  }
  const lanes = Array.from({ length: Math.min(parallelChannels, items.length) }, lane)
  const failed = (await Promise.allSettled(lanes)).find((r) => r.status === 'rejected')
  if (failed) throw failed.reason
}

export function createSettler(options: SettlerOptions): Settler {
  const { ledger, store, logger, now } = options
  const outage = createOutageLog(logger, 'settlement')
  const backoff = new Map<Hex, Backoff>()
  const firstSeen = new Map<Hex, number>()
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

  /** Settles one channel if due, holding its lock for the whole attempt. */
  const settleChannel = async (
    channelId: Hex,
    since: number | undefined,
    shuttingDown: boolean,
  ) => {
    const wait = backoff.get(channelId)
    if (wait && wait.notBefore > now() && !shuttingDown) return
    const lease = await store.acquire(channelId, options.owner, options.lockTtlMs)
    if (!lease) return
    try {
      const pending = await reconcile(options.submit, channelId)
      note(channelId, pending)
      if (pending?.kind === 'pending') return
      const record = await ledger.get(channelId)
      if (!record) return
      if (
        since === undefined &&
        record.settleVoucher &&
        record.settleVoucher.cumulative > record.settled
      ) {
        if (!firstSeen.has(channelId)) firstSeen.set(channelId, now())
      }
      const decision = settlementDue(record, {
        policy: options.policy,
        now: now(),
        unsettledSince: since ?? firstSeen.get(channelId),
        shuttingDown,
      })
      if (record.closeRequestedAt !== 0) {
        const graceEnd = (record.closeRequestedAt + Number(closeGracePeriodSeconds)) * 1000
        if (decision.kind !== 'none' && now() > graceEnd - options.closeMarginSeconds * 1000) {
          logger.error(
            { channelId, graceEnd: new Date(graceEnd).toISOString() },
            'forced close nears its end with value unsettled',
          )
        }
      }
      if (decision.kind === 'none') return
      logger.info(
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
    } catch (error) {
      options.onAttempt?.(failureResult(error))
      fail(channelId, 'error', error)
    } finally {
      await release(lease)
    }
  }

  const reconcileChannel = async (channelId: Hex) => {
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
  }

  const round = async (shuttingDown: boolean) => {
    const pending = await store.pendingIntents()
    await inParallel(pending, reconcileChannel)
    const unsettled = await options.index.unsettled(1_000)
    await inParallel(unsettled, async ({ channelId, since }) => {
      if (stopped && !shuttingDown) return
      await settleChannel(channelId, since, shuttingDown)
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
    runOnce,
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
      await running
      if (opts.settleAll) {
        await outage.round(() => round(true), 'shutdown settlement failed', { level: 'error' })
      }
    },
  }
}
