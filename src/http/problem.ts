/**
 * Rendering failures as RFC 9457 `application/problem+json`. Payment problems on priced routes
 * carry a fresh `WWW-Authenticate: Payment` challenge so a client can always retry; every error
 * is `Cache-Control: no-store`. Unknown errors become `internal-error` with only the request id.
 */
import { GatewayError, problemBody } from '../errors.js'

export type ProblemOptions = {
  requestId: string
  /** A fresh challenge (header value and id) to attach, on priced routes. */
  challenge?: { header: string; id: string } | undefined
}

/** Any thrown value as a GatewayError (unknown ones become `internal-error`). */
export function asGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error
  return new GatewayError('internal-error', 'The gateway failed to handle the request.', {
    cause: error,
  })
}

export function problemResponse(error: GatewayError, options: ProblemOptions): Response {
  const headers = new Headers({
    'content-type': 'application/problem+json',
    'cache-control': 'no-store',
  })
  if (options.challenge) headers.set('www-authenticate', options.challenge.header)
  if (error.retryAfter !== undefined) headers.set('retry-after', String(error.retryAfter))
  const body = problemBody(error, {
    requestId: options.requestId,
    ...(options.challenge ? { challengeId: options.challenge.id } : {}),
  })
  return new Response(JSON.stringify(body), { status: error.status, headers })
}
