/**
 * The gate's view of a Node request: method, routed path, shape and sizes, the payment headers
 * (Authorization, Payment-Authorization, Accept-Payment). The only place that reads
 * payment-relevant facts off the incoming request.
 */
import type { IncomingMessage } from 'node:http'
import type { GateRequest } from '../gate/request.js'

export function gateRequest(options: {
  incoming: IncomingMessage
  /** The percent-decoded path the router matches. */
  path: string
  requestId: string
}): GateRequest {
  const { incoming } = options
  let headerBytes = 0
  for (const part of incoming.rawHeaders) headerBytes += part.length + 2
  const length = incoming.headers['content-length']
  const contentLength = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined
  return {
    requestId: options.requestId,
    method: (incoming.method ?? 'GET').toUpperCase(),
    path: options.path,
    hasQuery: (incoming.url ?? '').includes('?'),
    hasBody: incoming.headers['transfer-encoding'] !== undefined || (contentLength ?? 0) > 0,
    contentLength,
    headerBytes,
    authorization: incoming.headers.authorization,
    paymentAuthorization: header(incoming, 'payment-authorization'),
    acceptPayment: header(incoming, 'accept-payment'),
  }
}

/** A header Node does not parse itself: its value, repeated ones joined with ", " as Node does. */
function header(incoming: IncomingMessage, name: string): string | undefined {
  const value = incoming.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}
