/**
 * The close watcher: keeps the ledger in step with what payers do on chain without the gateway —
 * forced-close requests, top-ups, closes and withdrawals — so that a `requestClose` stops new
 * vouchers at once (410 `channel-finalized`) and triggers an immediate settlement of everything
 * spent, well inside the 900-second grace period.
 *
 * It follows the escrow's events from a persisted block cursor (so a restart resumes where it
 * left off and misses nothing), and periodically reads the state of every open channel in batches
 * as a backstop (a missed or pruned log range is caught within one reconciliation interval). Only
 * channels the ledger knows are touched. For every channel an event names, the current state is
 * read from chain rather than trusting the event alone. While the ledger is down a round fails
 * before moving its cursor, so the next round after Redis returns covers the same blocks; the
 * outage is logged once (outage-log.ts); any other failing round (the chain RPC down) when it
 * starts, at most once a minute while it lasts, and when it ends, as a one-line summary.
 *
 * Reconciliation also reopens a channel left `closing` by a cooperative close that failed and
 * could not reopen it itself (Redis went down between the two): a channel seen closing for at
 * least `staleClosingMs`, whose lock is free (no close is running: a close holds it from marking
 * the channel to its end), with no pending intent and still open on chain, is given back to its
 * payer. Without this, every later voucher on it would be refused `410` until a forced close.
 */
import type { Logger } from 'pino'
import { getAbiItem, numberToHex, toEventSelector, type Hex } from 'viem'
import type { EscrowClient } from '../chain/escrow.js'
import { escrowAbi } from '../chain/escrow-abi.js'
import { createFailureLog } from '../failure-log.js'
import type { ChannelIndex, LedgerPort } from '../ledger/port.js'
import { createOutageLog } from './outage-log.js'
import type { SettlementStore } from './store.js'

export type CloseWatcherOptions = {
  readonly escrow: EscrowClient
  readonly ledger: LedgerPort
  readonly store: SettlementStore
  readonly index: ChannelIndex
  readonly logger: Logger
  readonly now: () => number
  readonly pollIntervalMs: number
  readonly reconcileIntervalMs: number
  /** Called when a channel is found with a pending forced close. */
  readonly onCloseRequested: (channelId: Hex) => void
  /** Most blocks asked for in one `eth_getLogs`. */
  readonly maxBlockRange?: number
  /** The lock owner id this watcher uses when it reopens a channel left closing. */
  readonly owner: string
  readonly lockTtlMs: number
  /** How long a channel must have been seen closing before it counts as left so. */
  readonly staleClosingMs: number
}

export type CloseWatcher = {
  start(): void
  /** One poll of new events (and a reconciliation when due). */
  runOnce(): Promise<void>
  /** Reads every open channel's state now. */
  reconcileAll(): Promise<void>
  stop(): Promise<void>
}

/** Selectors (topic 0) of the events watched; every one names its channel in topic 1. */
const watchedSelectors = (
  ['CloseRequested', 'CloseRequestCancelled', 'TopUp', 'Settled', 'ChannelClosed'] as const
).map((name) => toEventSelector(getAbiItem({ abi: escrowAbi, name })))

/**
 * The channels named by watched events of `escrow` in blocks `from`…`to`. Only the channel ids
 * are needed (each channel's state is then read from chain), so the logs are asked for raw and
 * topic 1 is read off: viem's `getLogs` formats every log and decodes every event, and the
 * gateway's own settlements are most of these logs (profiled on a settle-all: a tenth of a
 * millisecond per settlement, for ids that are right there in the topics).
 */
async function channelsInLogs(escrow: EscrowClient, from: bigint, to: bigint): Promise<Set<Hex>> {
  const logs = await escrow.publicClient.request({
    method: 'eth_getLogs',
    params: [
      {
        address: escrow.escrow,
        topics: [watchedSelectors],
        fromBlock: numberToHex(from),
        toBlock: numberToHex(to),
      },
    ],
  })
  const address = escrow.escrow.toLowerCase()
  const channels = new Set<Hex>()
  for (const log of logs) {
    const [selector, channelId] = log.topics
    // The node filtered already; a log that names no channel is skipped, as viem's decoding did.
    if (!selector || !channelId || !watchedSelectors.includes(selector)) continue
    if (log.address.toLowerCase() === address) channels.add(channelId.toLowerCase() as Hex)
  }
  return channels
}

export function createCloseWatcher(options: CloseWatcherOptions): CloseWatcher {
  const { escrow, ledger, store, logger } = options
  const outage = createOutageLog(logger, 'the close watcher', {
    // Anything but a ledger outage (the chain RPC down, mostly): one line when it starts, at most
    // one a minute while it lasts, one when it ends.
    others: createFailureLog({ logger, what: 'close watcher round', now: options.now }),
  })
  const maxRange = BigInt(options.maxBlockRange ?? 2_000)
  let lastReconcile = 0
  /** Channels seen closing by reconciliation, with when first seen (pruned every pass). */
  const closingSince = new Map<Hex, number>()
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let stopped = false

  /**
   * Reads the states of the channels events named that the ledger knows, 200 to a call, and folds
   * them in. Why in batches: the settler's own settlements are most of the events (a busy payee
   * lands dozens a block), and one read per channel would cost more than the settlements did.
   */
  const refresh = async (channelIds: Iterable<Hex>) => {
    const known: Hex[] = []
    for (const channelId of channelIds) if (await ledger.get(channelId)) known.push(channelId)
    for (let i = 0; i < known.length; i += 200) {
      const chunk = known.slice(i, i + 200)
      const states = await escrow.readStates(chunk)
      for (const [k, state] of states.entries()) {
        const channelId = chunk[k]!
        await ledger.syncChain(channelId, state, options.now())
        if (state.closeRequestedAt !== 0) {
          logger.warn(
            { channelId, closeRequestedAt: state.closeRequestedAt },
            'forced close requested',
          )
          options.onCloseRequested(channelId)
        }
      }
    }
  }

  const pollEvents = async () => {
    const latest = await escrow.publicClient.getBlockNumber()
    const cursor = await store.cursor()
    // First start: begin at the current block; earlier history is covered by reconciliation.
    let from = cursor === undefined ? latest : cursor + 1n
    while (from <= latest) {
      const to = from + maxRange - 1n < latest ? from + maxRange - 1n : latest
      await refresh(await channelsInLogs(escrow, from, to))
      await store.setCursor(to)
      from = to + 1n
    }
    if (cursor === undefined && from > latest) await store.setCursor(latest)
  }

  /** Reopens a channel left closing, under its lock, when nothing is in flight for it. */
  const reopenIfStale = async (channelId: Hex) => {
    const lease = await store.acquire(channelId, options.owner, options.lockTtlMs)
    if (!lease) return
    try {
      if (await store.intent(channelId)) return
      const state = await escrow.readState(channelId)
      if (state.deposit === 0n) return
      const record = await ledger.get(channelId)
      if (record?.status !== 'closing') return
      await ledger.cancelClosing(channelId, options.now())
      closingSince.delete(channelId)
      logger.warn({ channelId }, 'reopened a channel left closing by a close that did not finish')
    } finally {
      await store.release(lease).catch(() => undefined)
    }
  }

  const reconcileAll = async () => {
    const ids = await options.index.open(10_000)
    const closing = new Set<Hex>()
    for (let i = 0; i < ids.length; i += 200) {
      const chunk = ids.slice(i, i + 200)
      const states = await escrow.readStates(chunk)
      for (const [k, state] of states.entries()) {
        const channelId = chunk[k]!
        const synced = await ledger.syncChain(channelId, state, options.now())
        if (state.closeRequestedAt !== 0) options.onCloseRequested(channelId)
        if (synced.kind === 'ok' && synced.channel.status === 'closing') closing.add(channelId)
      }
    }
    for (const id of closingSince.keys()) if (!closing.has(id)) closingSince.delete(id)
    for (const channelId of closing) {
      const since = closingSince.get(channelId)
      if (since === undefined) closingSince.set(channelId, options.now())
      else if (options.now() - since >= options.staleClosingMs) await reopenIfStale(channelId)
    }
    lastReconcile = options.now()
  }

  const runOnce = () => {
    if (running) return running
    running = outage
      .round(async () => {
        await pollEvents()
        if (options.now() - lastReconcile >= options.reconcileIntervalMs) await reconcileAll()
      }, 'close watcher round failed')
      .finally(() => {
        running = undefined
      })
    return running
  }

  const schedule = () => {
    if (stopped) return
    timer = setTimeout(() => {
      void runOnce().then(schedule)
    }, options.pollIntervalMs)
    timer.unref()
  }

  return {
    start() {
      void runOnce().then(schedule)
    },
    runOnce,
    reconcileAll,
    async stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      await running
    },
  }
}
