/**
 * How the bench (and soak) process and its server children talk: a child prints one JSON line on
 * stdout once it listens ({@link ReadyLine}), then answers CPU-usage and process-statistics
 * questions over the IPC channel (between measurement windows; every sample of a soak). A child stops cleanly on SIGTERM or SIGINT (so `--cpu-prof`
 * profiles get written) and exits on its own when the bench process disappears.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'

/** The one line a child prints on stdout once it accepts connections. */
export type ReadyLine = { readonly ready: true; readonly url: string }

/** Bench → child, over IPC. */
export type CpuQuery = { readonly type: 'cpu' }

/** Child → bench, over IPC: the child's CPU time so far. */
export type CpuAnswer = { readonly type: 'cpu'; readonly usage: NodeJS.CpuUsage }

/** Bench → child, over IPC: memory and event-loop figures, for a soak's samples. */
export type StatsQuery = { readonly type: 'stats' }

/** Child → bench: memory in bytes; event-loop delay in ms since the previous stats query. */
export type StatsAnswer = {
  readonly type: 'stats'
  readonly rss: number
  readonly heapUsed: number
  readonly heapTotal: number
  readonly external: number
  readonly loopDelayMeanMs: number
  readonly loopDelayP99Ms: number
  readonly loopDelayMaxMs: number
}

/** Type guard for {@link StatsAnswer}. */
export function isStatsAnswer(value: unknown): value is StatsAnswer {
  return (
    typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'stats'
  )
}

/** Type guard for {@link ReadyLine}. */
export function isReadyLine(value: unknown): value is ReadyLine {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { ready?: unknown }).ready === true &&
    typeof (value as { url?: unknown }).url === 'string'
  )
}

/** Type guard for {@link CpuAnswer}. */
export function isCpuAnswer(value: unknown): value is CpuAnswer {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'cpu'
}

/**
 * Child side: announces `url`, answers CPU queries, and runs `stop` then exits on SIGTERM, SIGINT
 * or when the IPC channel closes (the bench process died).
 */
export function serveAsChild(options: { url: string; stop: () => Promise<void> }): void {
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    options.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error)
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.on('disconnect', stop)
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  process.on('message', (message: unknown) => {
    const type = (message as Partial<CpuQuery | StatsQuery> | null)?.type
    if (type === 'cpu') {
      const answer: CpuAnswer = { type: 'cpu', usage: process.cpuUsage() }
      process.send?.(answer)
    } else if (type === 'stats') {
      const memory = process.memoryUsage()
      const ms = (ns: number) => (Number.isFinite(ns) ? ns / 1e6 : 0)
      const answer: StatsAnswer = {
        type: 'stats',
        rss: memory.rss,
        heapUsed: memory.heapUsed,
        heapTotal: memory.heapTotal,
        external: memory.external,
        loopDelayMeanMs: ms(loop.mean),
        loopDelayP99Ms: ms(loop.percentile(99)),
        loopDelayMaxMs: ms(loop.max),
      }
      loop.reset()
      process.send?.(answer)
    }
  })
  const line: ReadyLine = { ready: true, url: options.url }
  process.stdout.write(`${JSON.stringify(line)}\n`)
}
