/**
 * The gate's view of a Node request: method, request target, shape and sizes, the payment headers
 * (every Authorization field value, Payment-Authorization, Accept-Payment). The only place that
 * reads payment-relevant facts off the incoming request.
 */
import type { IncomingMessage } from 'node:http'
import type { GateRequest } from '../gate/request.js'
import { parseRequestTarget } from '../gate/target.js'
import type { ProxyTrust } from '../upstream/trusted-proxies.js'

export function gateRequest(options: {
  incoming: IncomingMessage
  requestId: string
  /** `server.trustedProxies`: whose X-Forwarded-For names the client. */
  trustsPeer: ProxyTrust
}): GateRequest {
  const { incoming } = options
  const { rawHeaders } = incoming
  let headerBytes = 0
  // Every Authorization line, not Node's `headers.authorization`, which keeps only the first.
  const authorization: string[] = []
  for (let i = 0; i < rawHeaders.length; i++) {
    const part = rawHeaders[i]!
    headerBytes += part.length + 2
    if (i % 2 === 0 && part.length === 13 && part.toLowerCase() === 'authorization') {
      authorization.push(rawHeaders[i + 1] ?? '')
    }
  }
  const length = incoming.headers['content-length']
  const contentLength = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined
  return {
    requestId: options.requestId,
    client: clientAddress(incoming, options.trustsPeer),
    method: (incoming.method ?? 'GET').toUpperCase(),
    target: parseRequestTarget(incoming.url ?? '/'),
    hasBody: incoming.headers['transfer-encoding'] !== undefined || (contentLength ?? 0) > 0,
    contentLength,
    headerBytes,
    authorization,
    paymentAuthorization: header(incoming, 'payment-authorization'),
    acceptPayment: header(incoming, 'accept-payment'),
  }
}

/**
 * The client's address: the peer's, or behind trusted proxies the nearest address in
 * X-Forwarded-For that is not one of them (addresses further left are the client's own claim).
 */
function clientAddress(incoming: IncomingMessage, trustsPeer: ProxyTrust): string {
  let address = incoming.socket.remoteAddress ?? 'unknown'
  if (!trustsPeer(address)) return address
  const forwarded = header(incoming, 'x-forwarded-for')?.split(',') ?? []
  for (let i = forwarded.length - 1; i >= 0; i--) {
    const hop = forwarded[i]!.trim()
    if (hop === '') continue
    address = hop
    if (!trustsPeer(hop)) break
  }
  return address.slice(0, 64)
}

/** A header Node does not parse itself: its value, repeated ones joined with ", " as Node does. */
function header(incoming: IncomingMessage, name: string): string | undefined {
  const value = incoming.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}
