/**
 * How the bench process and its server children talk: a child prints one JSON line on stdout
 * once it listens ({@link ReadyLine}), then answers CPU-usage questions over the IPC channel
 * between measurement windows. A child stops cleanly on SIGTERM or SIGINT (so `--cpu-prof`
 * profiles get written) and exits on its own when the bench process disappears.
 */

/** The one line a child prints on stdout once it accepts connections. */
export type ReadyLine = { readonly ready: true; readonly url: string }

/** Bench → child, over IPC. */
export type CpuQuery = { readonly type: 'cpu' }

/** Child → bench, over IPC: the child's CPU time so far. */
export type CpuAnswer = { readonly type: 'cpu'; readonly usage: NodeJS.CpuUsage }

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
  process.on('message', (message: unknown) => {
    if ((message as Partial<CpuQuery> | null)?.type !== 'cpu') return
    const answer: CpuAnswer = { type: 'cpu', usage: process.cpuUsage() }
    process.send?.(answer)
  })
  const line: ReadyLine = { ready: true, url: options.url }
  process.stdout.write(`${JSON.stringify(line)}\n`)
}
