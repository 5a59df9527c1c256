/**
 * How the settler and the close watcher log their failures, so that a ledger outage is one line
 * and not a flood.
 *
 * Both loops run every poll interval. While Redis is down every round fails the same way
 * (`ledger-unavailable`, from the ledger or the settlement store alike), and logging each failure
 * at error with its stack would bury what an operator needs: that the ledger is down, and when it
 * came back. So an outage is logged once when it starts — at warn, with its code and the cause's
 * message, no stack — then only at debug, and once more (info) when a round goes through again.
 * Nothing is lost by waiting: intents and locks live in Redis and are picked up where they were
 * left. Any other failure is logged as it comes, with its error.
 */
import type { Logger } from 'pino'
import { GatewayError } from '../errors.js'
import { errorSummary, type FailureLog } from '../failure-log.js'

/** Whether a failure is the ledger (Redis) being unreachable rather than a defect. */
export function isLedgerOutage(error: unknown): error is GatewayError {
  return error instanceof GatewayError && error.code === 'ledger-unavailable'
}

type FailureOptions = { readonly fields?: object; readonly level?: 'warn' | 'error' }

export type OutageLog = {
  /** Logs a failure: an outage once (see the header), anything else at `level` with its error. */
  failed(error: unknown, msg: string, options?: FailureOptions): void
  /**
   * Runs one round of the loop (never concurrently with another round of the same log) and logs
   * its failure as `msg`. A round that met no outage at all — not even in a step whose failure it
   * caught and logged itself — ends an outage, and the recovery is logged once.
   */
  round(work: () => Promise<void>, msg: string, options?: FailureOptions): Promise<void>
}

/**
 * An outage log for one loop (`what`: "settlement", "the close watcher"). Failures other than a
 * ledger outage go to `others` when given (a rate-limited log of one repeating failure), else are
 * logged as they come, as a one-line summary without a stack.
 */
export function createOutageLog(
  logger: Logger,
  what: string,
  options: { readonly others?: FailureLog } = {},
): OutageLog {
  let down = false
  /** Outage failures seen so far: a round compares it before and after. */
  let met = 0

  const { others } = options
  const failed = (error: unknown, msg: string, failure: FailureOptions = {}) => {
    const fields = failure.fields ?? {}
    if (!isLedgerOutage(error)) {
      if (others) others.failed(error)
      else logger[failure.level ?? 'warn']({ ...fields, error: errorSummary(error) }, msg)
      return
    }
    met += 1
    const facts = {
      ...fields,
      code: error.code,
      cause: error.cause instanceof Error ? error.cause.message : undefined,
    }
    if (down) {
      logger.debug(facts, msg)
      return
    }
    down = true
    logger.warn(facts, `${msg}: the ledger is unavailable; ${what} resumes when it returns`)
  }

  return {
    failed,
    async round(work, msg, options) {
      const before = met
      try {
        await work()
      } catch (error) {
        failed(error, msg, options)
        return
      }
      others?.succeeded()
      if (!down || met !== before) return
      down = false
      logger.info(`the ledger is reachable again; ${what} resumed`)
    },
  }
}
