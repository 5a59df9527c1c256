/**
 * Request limits checked before any payment work, so an oversized request changes nothing and
 * costs nothing: total header bytes, and a declared body larger than the upstream accepts.
 * (A chunked body that grows too large is cut by the forwarder while streaming.)
 */
import type { IncomingMessage } from 'node:http'
import { GatewayError } from '../errors.js'
import type { RequestShape } from '../session/dispatch.js'

export function checkLimits(
  request: IncomingMessage,
  maxHeaderBytes: number,
  maxBodyBytes?: number,
): void {
  let size = 0
  const raw = request.rawHeaders
  for (let i = 0; i < raw.length; i++) size += raw[i]!.length + 2
  if (size > maxHeaderBytes) {
    throw new GatewayError('headers-too-large', 'The request headers are too large.', {
      details: { maxHeaderBytes },
    })
  }
  if (maxBodyBytes !== undefined) {
    const declared = Number(request.headers['content-length'] ?? 0)
    if (declared > maxBodyBytes) {
      throw new GatewayError('body-too-large', 'The request body is too large.', {
        details: { maxBodyBytes },
      })
    }
  }
}

/** What payment needs to know of the request's shape. */
export function requestShape(request: IncomingMessage): RequestShape {
  const length = request.headers['content-length']
  return {
    method: request.method ?? 'GET',
    hasQuery: (request.url ?? '').includes('?'),
    hasBody:
      request.headers['transfer-encoding'] !== undefined ||
      (length !== undefined && Number(length) > 0),
  }
}
