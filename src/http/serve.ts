/**
 * The Node HTTP server the app runs in, with the connection-level limits from `server`:
 *
 * - `headersTimeoutMs`: a client that has not sent its whole head by then gets Node's 408 and
 *   the connection is closed (slowloris on headers). Node checks every second, not every 30 s.
 * - `requestTimeout` is only a backstop (head + body deadlines + 5 s): the body deadline itself
 *   is the forwarder's, which answers problem+json (upstream/request-body.ts).
 * - `Expect: 100-continue` is answered by the gateway, not by Node: Node would send `100 Continue`
 *   before the gate has looked at the request, and a client that will get a 402 or a 404 would
 *   upload its body for nothing. The forwarder sends it (`sendContinue`) when it first reads the
 *   body of an admitted request; an answer without one tells the client not to send it.
 * - Header bytes: Node's limit sits above `maxHeaderBytes` so the gate answers oversized heads
 *   with problem+json itself.
 */
import { serve, type ServerType } from '@hono/node-server'
import type { IncomingMessage, ServerResponse } from 'node:http'

export type ServerLimits = {
  readonly maxHeaderBytes: number
  readonly headersTimeoutMs: number
  readonly requestBodyTimeoutMs: number
}

/** Requests whose client waits for `100 Continue` before it sends the body. */
const awaitingContinue = new WeakSet<IncomingMessage>()

/** Starts listening; resolves once the port is bound. */
export function startServer(options: {
  readonly fetch: Parameters<typeof serve>[0]['fetch']
  readonly port: number
  readonly hostname: string
  readonly limits: ServerLimits
}): Promise<ServerType> {
  const { limits } = options
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch: options.fetch,
        port: options.port,
        hostname: options.hostname,
        serverOptions: {
          maxHeaderSize: limits.maxHeaderBytes + 16 * 1024,
          headersTimeout: limits.headersTimeoutMs,
          requestTimeout: limits.headersTimeoutMs + limits.requestBodyTimeoutMs + 5_000,
          connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
        },
      },
      () => resolve(server),
    )
    server.once('error', reject)
    server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
      awaitingContinue.add(request)
      server.emit('request', request, response)
    })
  })
}

/** Sends `100 Continue` if the client is waiting for it (once). */
export function sendContinue(request: IncomingMessage, response: ServerResponse): void {
  if (awaitingContinue.delete(request) && !response.headersSent) response.writeContinue()
}
