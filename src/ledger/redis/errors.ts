/**
 * What a Redis failure means to the gateway — the one mapping for everything that talks to Redis:
 * the ledger, its unsettled index, and the settlement store (locks, intents, the close watcher's
 * cursor).
 *
 * A ledger that cannot be reached must never look like a ledger that said yes: every failure of a
 * ledger call rejects. Failures that waiting can cure — no connection, a refused or reset socket, a
 * command that timed out, a server that is loading its data, read-only (a replica, or a primary
 * during failover), out of memory, busy, or refusing our credentials — become the stable
 * `ledger-unavailable` (503, `Retry-After: 1`) with the original error as `cause`. Anything else
 * Redis answers (a Lua error, a wrong type) is a defect, not an outage: it stays a plain `Error`
 * (rendered as a 500), so it is seen and fixed rather than retried forever.
 *
 * Beware: a timeout or a connection lost after a command was written does NOT mean the command
 * was not applied. `ledger-unavailable` tells the caller the outcome is unknown.
 */
import { GatewayError } from '../../errors.js'

/** Prefixes of Redis error replies that describe the server's state, not our request. */
const unavailableReplies = [
  'LOADING',
  'READONLY',
  'MASTERDOWN',
  'BUSY',
  'OOM',
  'TRYAGAIN',
  'CLUSTERDOWN',
  'NOREPLICAS',
  'MISCONF',
  'NOAUTH',
  'WRONGPASS',
  'NOPERM',
  // A Cluster redirect ioredis could not follow (inside a pipeline): the command did not run.
  'MOVED',
  'ASK',
] as const

/** Whether an error is a reply Redis sent (as opposed to a client or socket failure). */
export function isReplyError(error: unknown): error is Error {
  return error instanceof Error && error.name === 'ReplyError'
}

/** Whether a reply error reports that the script cache lacks a script (`SCRIPT FLUSH`, restart). */
export function isNoScript(error: unknown): boolean {
  return isReplyError(error) && error.message.startsWith('NOSCRIPT')
}

/** Whether a failure is one that waiting can cure (see the module header). */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  if (!isReplyError(error)) return true
  return unavailableReplies.some((prefix) => error.message.startsWith(prefix))
}

/**
 * A copy of a Redis error that is safe to log: name, message, stack, the socket error `code` and
 * the command's NAME. ioredis attaches the failed command with its arguments to the error, and
 * for `AUTH` those are the username and password: a logger serializing the error's properties
 * would write the password out.
 */
export function redisCause(error: unknown): unknown {
  if (!(error instanceof Error)) return error
  const copy = new Error(error.message)
  copy.name = error.name
  if (error.stack !== undefined) copy.stack = error.stack
  const { code, command } = error as { code?: unknown; command?: { name?: unknown } }
  if (typeof code === 'string') Object.assign(copy, { code })
  if (typeof command?.name === 'string') Object.assign(copy, { command: command.name })
  return copy
}

/** The error a ledger or settlement-store call rejects with when Redis failed it. */
export function ledgerFailure(error: unknown, operation: string): Error {
  if (error instanceof GatewayError) return error
  const cause = redisCause(error)
  if (isUnavailable(error)) {
    return new GatewayError('ledger-unavailable', 'The channel ledger is unavailable.', {
      retryAfter: 1,
      cause,
    })
  }
  return new Error(`ledger: Redis failed ${operation}`, { cause })
}

/**
 * Runs `work` (Redis I/O only) and rejects with `ledgerFailure` when it fails. Validate inputs and
 * decode replies outside it: a `TypeError` thrown inside would be taken for an outage.
 */
export async function redisCall<T>(operation: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    throw ledgerFailure(error, operation)
  }
}
