/**
 * The request pipeline. Every request goes through these steps, in this order:
 *
 *   1. name it           — X-Request-Id on every answer; one access line when it is done
 *                                                                       (http/access-log.ts)
 *   2. CORS preflight    — answered here when `server.cors` is set; never forwarded or charged
 *                                                                       (http/cors.ts)
 *   3. gateway endpoints — `/__gateway/healthz`, `readyz`, `metrics`, and the discovery
 *                          documents (`/openapi.json`, `/llms.txt`); never charged or forwarded
 *                                                                       (http/health.ts, http/discovery.ts)
 *   4. admit             — route, limits, price; a 402 challenge, a management 204, a problem,
 *                          a shadow request, or a paid request with its price reserved (session)
 *                          or its one-shot payment claimed (charge)
 *                                                                       (gate/gate.ts)
 *   5. forward           — a paid retry is answered from its stored copy; otherwise stream to
 *                          the upstream and back; a paid request's charge is decided at the
 *                          upstream's head (a metered route's from the answer) and every answer
 *                          carries the receipt
 *                                                                       (http/relay.ts, gate/charge.ts, gate/payment.ts)
 *
 * Every request takes the configuration generation current when it arrives (routes, prices,
 * upstreams, limits, discovery; src/generation.ts) and keeps it to the end, whatever a reload does
 * meanwhile.
 *
 * This file holds the order of the steps and nothing else; the payment decisions live in
 * `src/gate/`, which knows nothing of Hono.
 */
import type { HttpBindings } from '@hono/node-server'
import { Hono } from 'hono'
import type { Logger } from 'pino'
import { randomUUID } from 'node:crypto'
import { asGatewayError, type Gate } from './gate/gate.js'
import type { RetryGuard } from './gate/idempotency.js'
import { loggedPath, noteAdmission, writeAccessLine, type AccessEntry } from './http/access-log.js'
import { cors, type CorsPolicy } from './http/cors.js'
import { mountDiscovery } from './http/discovery.js'
import { gateRequest } from './http/gate-request.js'
import { mountHealth, type Readiness } from './http/health.js'
import type { Metrics } from './http/metrics.js'
import { relay } from './http/relay.js'
import { respond } from './http/respond.js'
import type { DiscoveryDocuments } from './pricing/discovery.js'
import type { UpstreamPools } from './upstream/pool.js'
import type { ProxyTrust } from './upstream/trusted-proxies.js'

/** What a request takes from its configuration generation. */
export type PipelineParts = {
  readonly gate: Gate
  readonly upstreams: UpstreamPools
  /** The discovery documents to serve; none when absent. */
  readonly discovery?: DiscoveryDocuments | undefined
}

export type AppDeps = {
  /** The current generation, held by the request until `release()` (src/generations.ts). */
  readonly enter: () => { readonly generation: PipelineParts; release(): void }
  readonly logger: Logger
  /** One line per request; fixed fields only, so it may skip redaction. */
  readonly accessLogger: Logger
  readonly readiness: Readiness
  readonly metrics: Metrics
  /** Bearer token of the metrics endpoint; without it the endpoint is not mounted. */
  readonly metricsToken: string | undefined
  readonly limits: { readonly reservedPrefix: string }
  /** How request bodies are received: `server.requestBodyTimeoutMs`, `server.bufferedBodyBytes`. */
  readonly requestBody: { readonly timeoutMs: number; readonly bufferBytes: number }
  /** `server.trustedProxies`: whose forwarding headers reach the upstream. */
  readonly trustsPeer: ProxyTrust
  /** Cross-origin rules (`server.cors`); without them no CORS header is added. */
  readonly cors?: CorsPolicy | undefined
  /** Paid retries answered from a stored copy (gate/idempotency.ts); none when absent. */
  readonly retries?: RetryGuard | undefined
  readonly now: () => number
}

type Env = {
  Bindings: HttpBindings
  Variables: { entry: AccessEntry; cors: Record<string, string>; parts: PipelineParts }
}

export function createApp(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>()

  app.use('*', async (c, next) => {
    const entry: AccessEntry = {
      // A client may name its request; the id is echoed into logs, so keep it short.
      requestId: c.req.header('x-request-id')?.slice(0, 128) ?? randomUUID(),
      method: c.req.method,
      path: loggedPath(c.req.path),
      startedAt: deps.now(),
    }
    c.set('entry', entry)
    c.set('cors', {})
    const held = deps.enter()
    c.set('parts', held.generation)
    deps.metrics.requestStarted()
    c.env.outgoing.setHeader('x-request-id', entry.requestId)
    // The line is written once the answer is gone AND the handler is done: a charge may be
    // decided after the client left (its release is part of the line).
    let pending = 2
    const done = () => {
      if (--pending > 0) return
      held.release()
      const durationMs = deps.now() - entry.startedAt
      writeAccessLine(deps.accessLogger, entry, durationMs)
      deps.metrics.request({ ...entry, durationMs })
    }
    c.env.outgoing.once('close', () => {
      entry.status = c.env.outgoing.statusCode
      done()
    })
    try {
      await next()
    } finally {
      if (entry.outcome === undefined) {
        // Only the gateway's own endpoints get here without an outcome: a fixed set of paths.
        entry.outcome = 'gateway'
        entry.route = `${c.req.method} ${c.req.routePath}`
      }
      done()
    }
  })

  if (deps.cors) app.use('*', cors(deps.cors))

  mountHealth(app, deps)
  mountDiscovery(app, (c) => c.get('parts').discovery)

  app.all('*', async (c) => {
    const entry = c.get('entry')
    const parts = c.get('parts')
    const request = gateRequest({
      incoming: c.env.incoming,
      requestId: entry.requestId,
      trustsPeer: deps.trustsPeer,
    })
    const admission = await parts.gate.admit(request)
    noteAdmission(entry, admission)
    const relayDeps = { ...deps, gate: parts.gate, upstreams: parts.upstreams }
    switch (admission.kind) {
      case 'answered':
        return respond(admission.answer)
      case 'free':
        return relay(c, relayDeps, { ...admission, charge: undefined })
      case 'paid':
        return relay(c, relayDeps, admission)
      case 'shadow':
        return relay(c, relayDeps, { ...admission, charge: undefined }, admission.price)
    }
  })

  app.onError((error, c) => {
    // A defect outside the gate (which answers every failure itself): a 500 saying nothing.
    const entry = c.get('entry')
    deps.logger.error({ err: error, requestId: entry.requestId }, 'request failed')
    const answer = c.get('parts').gate.problem(asGatewayError(error), undefined, entry.requestId)
    entry.outcome = answer.outcome
    return respond(answer)
  })

  return app
}
