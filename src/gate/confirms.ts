/**
 * Served holds made final in the background. A flat-priced request is charged by a hold when its
 * credential is accepted (ledger/port.ts): the one ledger step on its path. Once its answer is
 * served the hold needs no refund, and confirming it makes its value settleable at once instead of
 * when it lapses. That confirmation is off the request's path and batched: every hold served
 * within `delayMs` on one channel is confirmed in one ledger call.
 *
 * Nothing depends on a confirmation landing: one that fails (Redis busy or down) only leaves the
 * hold to lapse into the same final charge, so failures are not retried, only counted in a log
 * line per outage. At most one flush runs at a time, and what waits for it is bounded by the
 * holds in flight.
 */
import type { Logger } from 'pino'
import type { Hex } from 'viem'
import type { LedgerPort } from '../ledger/port.js'

export type HoldConfirms = {
  /** Queues a served hold for confirmation. */
  add(channelId: Hex, reservationId: string): void
  /** Sends what is queued and stops. */
  stop(): Promise<void>
}

export function createHoldConfirms(options: {
  readonly ledger: LedgerPort
  readonly logger: Logger
  readonly now: () => number
  /** How long served holds gather before one call per channel confirms them. */
  readonly delayMs?: number
  /** Most holds confirmed in one call. */
  readonly maxBatch?: number
  /** Told what a settlement of the channel would claim once its holds are final. */
  readonly onConfirmed?: ((channelId: Hex, settleable: bigint) => void) | undefined
}): HoldConfirms {
  const { ledger, logger, now } = options
  const delayMs = options.delayMs ?? 20
  const maxBatch = options.maxBatch ?? 64
  let queued = new Map<Hex, string[]>()
  let timer: NodeJS.Timeout | undefined
  let flushing: Promise<void> | undefined
  let failing = false
  let stopped = false

  const send = async (channelId: Hex, ids: readonly string[]) => {
    try {
      const result = await ledger.confirmHolds(channelId, ids, now())
      if (result.kind === 'confirmed' && result.confirmed > 0) {
        options.onConfirmed?.(channelId, result.settleable)
      }
      if (failing) logger.info('hold confirmations go through again')
      failing = false
    } catch (error) {
      if (!failing) {
        logger.warn(
          { err: error instanceof Error ? { message: error.message } : undefined },
          'hold confirmations fail; served holds become settleable when they lapse',
        )
      }
      failing = true
    }
  }

  const flush = async () => {
    timer = undefined
    const batch = queued
    queued = new Map()
    const calls: Promise<void>[] = []
    for (const [channelId, ids] of batch) {
      for (let i = 0; i < ids.length; i += maxBatch) {
        calls.push(send(channelId, ids.slice(i, i + maxBatch)))
      }
    }
    await Promise.all(calls)
  }

  const schedule = () => {
    if (timer || flushing || stopped) return
    timer = setTimeout(() => {
      flushing = flush().finally(() => {
        flushing = undefined
        if (queued.size > 0) schedule()
      })
    }, delayMs)
    timer.unref()
  }

  return {
    add(channelId, reservationId) {
      if (stopped) return
      const ids = queued.get(channelId)
      if (ids) ids.push(reservationId)
      else queued.set(channelId, [reservationId])
      schedule()
    },
    async stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      timer = undefined
      await flushing
      if (queued.size > 0) await flush()
    },
  }
}
