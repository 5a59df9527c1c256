/**
 * What the gate answers with itself, without the upstream: a challenge, a management `204`, or a
 * problem. Plain data (status, headers, body), so the payment lifecycle knows nothing of the HTTP
 * framework; `src/http/` turns an answer into a response.
 *
 * Header rules, in one place:
 *  - every problem is `application/problem+json` with `Cache-Control: no-store`; on a priced route
 *    a 4xx problem carries fresh `WWW-Authenticate: Payment` challenges (one per offer the client
 *    accepts, comma-joined; the first one's id in the body), so a client can always pay again;
 *  - an answer to an accepted credential carries `Payment-Receipt`, whatever its status; a
 *    successful one is `Cache-Control: private` (it names the payer's channel).
 */
import { problemBody, type GatewayError } from '../errors.js'
import type { IssuedChallenge } from '../pricing/challenges.js'

export type Answer = {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  /** JSON text of a problem, or `undefined` for an empty body. */
  readonly body: string | undefined
  /**
   * The access line's outcome: `challenge`, `management`, `top-up`, `close`, `recovered` /
   * `recovery-none` (gate/recovery.ts), or the problem's error code.
   */
  readonly outcome: string
  /** The failure behind a problem answer (its cause is for the log, never for the client). */
  readonly error?: GatewayError
}

/** A problem answer; `challenges` and `receipt` are attached when given. */
export function problemAnswer(
  error: GatewayError,
  options: {
    readonly requestId: string
    /** Fresh challenges, the client's preferred first (one `WWW-Authenticate`, comma-joined). */
    readonly challenges?: readonly IssuedChallenge[] | undefined
    readonly receipt?: string | undefined
  },
): Answer {
  const headers: Record<string, string> = {
    'content-type': 'application/problem+json',
    'cache-control': 'no-store',
  }
  const challenges = options.challenges ?? []
  const [first] = challenges
  if (first) headers['www-authenticate'] = challenges.map((c) => c.header).join(', ')
  if (options.receipt !== undefined) headers['payment-receipt'] = options.receipt
  if (error.retryAfter !== undefined) headers['retry-after'] = String(error.retryAfter)
  const body = problemBody(error, {
    requestId: options.requestId,
    ...(first ? { challengeId: first.challenge.id } : {}),
  })
  return { status: error.status, headers, body: JSON.stringify(body), outcome: error.code, error }
}

/** The `204` that ends a management request (topUp, close, or a voucher without content). */
export function managementAnswer(receipt: string, outcome: string): Answer {
  return {
    status: 204,
    headers: { 'payment-receipt': receipt, 'cache-control': 'private' },
    body: undefined,
    outcome,
  }
}
