/**
 * One structured access line per request, written when the response is done: route, price,
 * outcome code, channel, upstream status, timings. Never a header value, credential or query
 * string: the path logged is the route pattern when one matched.
 */
import type { Logger } from 'pino'
import type { Admission } from '../gate/gate.js'

export type AccessEntry = {
  readonly requestId: string
  readonly method: string
  readonly startedAt: number
  route?: string
  price?: string
  /**
   * Stable outcome: `forwarded`, `challenge`, `management`, `top-up`, `close`, `gateway` (the
   * gateway's own endpoints), or an error code.
   */
  outcome?: string
  action?: string
  channelId?: string
  /** How the charge was decided: `committed`, `released`, `unknown`, `refused`. */
  charge?: string
  /** Value charged for this request, base units (absent while unknown). */
  charged?: string
  upstreamStatus?: number
  upstreamMs?: number
  status?: number
}

export function writeAccessLine(logger: Logger, entry: AccessEntry, now: number): void {
  logger.info({ ...entry, durationMs: now - entry.startedAt, startedAt: undefined }, 'request')
}

/** What the access line records of an admission. */
export function noteAdmission(entry: AccessEntry, admission: Admission): void {
  const { route } = admission
  if (route) {
    entry.route = `${route.method} ${route.path}`
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
  if (admission.kind === 'answered') entry.outcome = admission.answer.outcome
}
