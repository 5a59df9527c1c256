/**
 * Logging a failure that repeats in the background — a chain RPC that is down, a Redis that is
 * away — as changes of state, not as one line per attempt. A poll loop that fails every second
 * would otherwise write a line a second for as long as the outage lasts (viem errors carry the
 * ABI, the call and a stack: kilobytes each).
 *
 * Invariants: the first failure after a success is one `warn` line; while the failure goes on, at
 * most one further line per `repeatMs`, with the count; the first success after failures is one
 * `info` line. Every line carries the error as a short summary (its name, short message and code,
 * at most a few hundred characters) — never a stack, an ABI or request data.
 */
import type { Logger } from 'pino'

export type FailureLog = {
  /** Notes one failed attempt; logs only on a change of state or when `repeatMs` has passed. */
  failed(error: unknown): void
  /** Notes one successful attempt; logs only when it ends a run of failures. */
  succeeded(): void
  /** True between a failure and the next success. */
  failing(): boolean
}

export function createFailureLog(options: {
  readonly logger: Logger
  /** What fails, as the log lines name it (`close watcher round`). */
  readonly what: string
  readonly now: () => number
  /** Least time between two lines about the same run of failures (default one minute). */
  readonly repeatMs?: number
}): FailureLog {
  const { logger, what, now } = options
  const repeatMs = options.repeatMs ?? 60_000
  let failures = 0
  let since = 0
  let loggedAt = 0

  return {
    failed(error) {
      failures += 1
      const at = now()
      if (failures === 1) {
        since = at
        loggedAt = at
        logger.warn({ error: errorSummary(error) }, `${what} failing`)
      } else if (at - loggedAt >= repeatMs) {
        loggedAt = at
        logger.warn(
          { error: errorSummary(error), failures, sinceMs: at - since },
          `${what} still failing`,
        )
      }
    },
    succeeded() {
      if (failures === 0) return
      logger.info({ failures, forMs: now() - since }, `${what} recovered`)
      failures = 0
    },
    failing: () => failures > 0,
  }
}

const maxSummary = 300

/**
 * A short, safe description of an error for a log line: viem's `shortMessage` (not its
 * `message`, which lists the call, the ABI and the docs link), else the first line of the message;
 * with the error's name and code.
 */
export function errorSummary(error: unknown): string {
  if (!(error instanceof Error)) return String(error).slice(0, maxSummary)
  const { shortMessage, details, code } = error as {
    shortMessage?: unknown
    details?: unknown
    code?: unknown
  }
  const message =
    typeof shortMessage === 'string' ? shortMessage : (error.message.split('\n')[0] ?? '')
  const detail = typeof details === 'string' && details !== '' ? ` (${details.split('\n')[0]})` : ''
  const codeText = typeof code === 'string' || typeof code === 'number' ? ` [${code}]` : ''
  return `${error.name}: ${message}${detail}${codeText}`.slice(0, maxSummary)
}
