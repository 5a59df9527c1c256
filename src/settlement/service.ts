/**
 * The settlement service: the settler and the close watcher running together, either inside the
 * gateway (default) or alone (`mpp-gateway settle`). The watcher nudges the settler the moment a
 * forced close is seen, so settlement does not wait for the next poll.
 */
import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import type { ChannelIndex, LedgerPort } from '../ledger/port.js'
import { createSettler, type Settler } from './settler.js'
import type { SettlementStore } from './store.js'
import type { SubmitContext } from './submit.js'
import { createCloseWatcher, type CloseWatcher } from './watcher.js'

export type SettlementService = {
  readonly settler: Settler
  readonly watcher: CloseWatcher
  /** Starts the settler's polling and the watcher (once). */
  start(): void
  /** Stops the watcher, lets the settler finish its round (and settle all if configured). */
  stop(): Promise<void>
}

type ServiceOptions = {
  config: Config
  ledger: LedgerPort
  index: ChannelIndex
  store: SettlementStore
  submit: SubmitContext
  owner: string
  logger: Logger
  now: () => number
}

/**
 * The settler as the configuration describes it, not started: what the admin API settles through
 * when `settlement.enabled` is off in this process (its locks still keep one writer per channel).
 */
export function createConfiguredSettler(options: ServiceOptions): Settler {
  const s = options.config.settlement
  return createSettler({
    ledger: options.ledger,
    index: options.index,
    submit: options.submit,
    store: options.store,
    policy: {
      amountThreshold: s.amountThreshold.amount,
      maxUnsettledMs: s.maxUnsettledSeconds * 1000,
      depositPercent: s.depositPercent,
    },
    owner: options.owner,
    lockTtlMs: s.lockTtlMs,
    pollIntervalMs: s.pollIntervalMs,
    maxAttempts: s.maxAttempts,
    closeMarginSeconds: s.closeMarginSeconds,
    logger: options.logger.child({ component: 'settlement' }),
    now: options.now,
    onAttempt: (result) => options.submit.metrics?.settlementAttempt(result),
  })
}

/**
 * The settler and the close watcher as the configuration describes them, not started yet: the
 * gateway hands the settler's `charged` to its request path before it starts listening.
 */
export function createSettlementService(options: ServiceOptions): SettlementService {
  const s = options.config.settlement
  const logger = options.logger.child({ component: 'settlement' })
  const settler = createConfiguredSettler(options)
  const watcher = createCloseWatcher({
    escrow: options.submit.escrow,
    ledger: options.ledger,
    store: options.store,
    index: options.index,
    logger,
    now: options.now,
    pollIntervalMs: s.pollIntervalMs,
    reconcileIntervalMs: s.reconcileIntervalSeconds * 1000,
    onCloseRequested: () => settler.nudge(),
    owner: `${options.owner}/watcher`,
    lockTtlMs: s.lockTtlMs,
    // Longer than any close can run while holding the lock, and at least two reconciliations.
    staleClosingMs: Math.max(2 * s.lockTtlMs, 2 * s.reconcileIntervalSeconds * 1000),
  })
  let started = false
  return {
    settler,
    watcher,
    start() {
      if (started) return
      started = true
      settler.start()
      watcher.start()
    },
    async stop() {
      await watcher.stop()
      await settler.stop({ settleAll: s.onShutdown })
    },
  }
}

export function startSettlementService(options: ServiceOptions): SettlementService {
  const service = createSettlementService(options)
  service.start()
  return service
}
