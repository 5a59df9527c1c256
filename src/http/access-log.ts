/**
 * One structured access line per request, written when the response is done: route, request
 * path, price, outcome code, channel, upstream status, timings. Never a header value, credential
 * or query string: the path is the routed path without its query, cut to {@link maxLoggedPath}
 * characters (a client chooses it, and it lands in every log pipeline downstream).
 */
import type { Logger } from 'pino'
import type { Admission } from '../gate/gate.js'

/** Longest request path an access line records; a longer one is cut and marked with "…". */
export const maxLoggedPath = 256

export type AccessEntry = {
  readonly requestId: string
  readonly method: string
  /** The request path without its query, at most {@link maxLoggedPath} characters. */
  readonly path: string
  readonly startedAt: number
  route?: string
  price?: string
  /**
   * Stable outcome: `forwarded`, `replayed` (a paid retry answered from its stored copy),
   * `challenge`, `management`, `top-up`, `close`, `preflight`, `gateway` (the gateway's own
   * endpoints), or an error code.
   */
  outcome?: string
  action?: string
  channelId?: string
  /** The one-shot payment's transaction, when one paid (or was to pay) the request. */
  txHash?: string
  /** How the charge was decided: `committed`, `released`, `unknown`, `refused`, `shadow`. */
  charge?: string
  /** Value charged for this request, base units (absent while unknown). */
  charged?: string
  /** Metered routes: the units the answer was priced at (absent when unreadable). */
  units?: string
  /** Metered routes: how the amount was found — `units`, `capped`, `unreadable`, `over-buffer`. */
  priceBasis?: string
  /** What a shadow-mode request would have been charged, base units. */
  shadowCharge?: string
  upstreamStatus?: number
  upstreamMs?: number
  /**
   * Why an exchange with the upstream failed, as the socket or HTTP client named it
   * (`ECONNRESET`, `UND_ERR_SOCKET`, …): the operator's first clue to a 502/504.
   */
  upstreamError?: string | undefined
  status?: number
}

/** The path an access line records for `path` (already without its query). */
export function loggedPath(path: string): string {
  return path.length <= maxLoggedPath ? path : `${path.slice(0, maxLoggedPath - 1)}…`
}

/** How routes are named in access lines and metrics labels: `GET /v1/execution/:id/results`. */
export function routeLabel(route: { readonly method: string; readonly path: string }): string {
  return `${route.method} ${route.path}`
}

export function writeAccessLine(logger: Logger, entry: AccessEntry, durationMs: number): void {
  logger.info({ ...entry, durationMs, startedAt: undefined }, 'request')
}

/** The code of the error that caused `error` (`ECONNRESET`, `UND_ERR_SOCKET`, …), if it has one. */
export function causeCode(error: Error): string | undefined {
  const cause = error.cause as { code?: unknown } | undefined
  return typeof cause?.code === 'string' ? cause.code.slice(0, 64) : undefined
}

/** What the access line records of an admission. */
export function noteAdmission(entry: AccessEntry, admission: Admission): void {
  const { route } = admission
  if (route) {
    entry.route = routeLabel(route)
    entry.price = route.price?.toString() ?? 'free'
  }
  const session =
    admission.kind === 'paid'
      ? admission.charge.session
      : admission.kind === 'answered'
        ? admission.session
        : undefined
  if (session) {
    entry.action = session.action
    entry.channelId = session.channelId
  }
  if (admission.kind === 'paid' && admission.charge.payment) {
    entry.action = 'charge'
    entry.txHash = admission.charge.payment.txHash
  }
  if (admission.kind === 'answered') entry.outcome = admission.answer.outcome
}
