/**
 * The request as the payment lifecycle sees it: what decides its route, its price and whether it
 * carries content to pay for. Built by the HTTP adapter from the incoming request; nothing here
 * refers to a framework or a socket.
 */
import { parseAuthorization, type Credential } from '../protocol/credential.js'
import type { RequestTarget } from './target.js'

export type GateRequest = {
  /** The gateway's id of this request (echoed in problems and logs). */
  readonly requestId: string
  /** The client's address (the peer, or what a trusted proxy names): the key of challenge limits. */
  readonly client: string
  /** Upper-case method. */
  readonly method: string
  /** The request target as received, parsed (gate/target.ts); an invalid one is refused. */
  readonly target: RequestTarget
  /** A body is declared (`Content-Length` > 0, or any `Transfer-Encoding`). */
  readonly hasBody: boolean
  /** The declared `Content-Length`, when it is a plain decimal. */
  readonly contentLength: number | undefined
  /** Bytes of all request header lines (names, values, separators). */
  readonly headerBytes: number
  /** Every `Authorization` field value, in the order received (protocol/authorization.ts). */
  readonly authorization: readonly string[]
  /** The `Payment-Authorization` header value, if any (see {@link readCredential}). */
  readonly paymentAuthorization: string | undefined
  /** The `Accept-Payment` header value, if any: the payment methods the client takes. */
  readonly acceptPayment: string | undefined
}

/**
 * The Payment credential of a request: from `Payment-Authorization` when that header carries one,
 * else from `Authorization`. A route whose upstream takes the client's own `Authorization`
 * (`clientAuthorization: passthrough`) asks for `Payment-Authorization` in its challenges; mppx
 * 0.11 still posts its management credentials (close, top-up) and its recovery proof in
 * `Authorization`, so both are read on every route. A non-Payment `Authorization` (Bearer, …) is
 * never a credential.
 *
 * @throws GatewayError `malformed-credential` for a malformed Payment credential, and
 *   `multiple-credentials` for an `Authorization` holding one beside another credential.
 */
export function readCredential(
  request: Pick<GateRequest, 'authorization' | 'paymentAuthorization'>,
): Credential | undefined {
  return (
    parseAuthorization(request.paymentAuthorization) ?? parseAuthorization(request.authorization)
  )
}

/**
 * True when a request carries no content to pay for: mppx's management requests. `HEAD`, or a
 * `POST` without query and without a body. A voucher or open on such a request only tops up the
 * client's standing (204 + receipt); `topUp` and `close` are management whatever the request.
 */
export function isManagementRequest(request: {
  readonly method: string
  readonly hasQuery: boolean
  readonly hasBody: boolean
}): boolean {
  if (request.method === 'HEAD') return true
  return request.method === 'POST' && !request.hasQuery && !request.hasBody
}
