/**
 * The request pipeline. Every request goes through these steps, in this order:
 *
 *   1. gateway endpoints  — `/__gateway/healthz`, `/__gateway/readyz` (never forwarded)
 *   2. match route        — method + path → route; unknown → 404     (pricing/route-table.ts)
 *   3. limits             — header size; declared body size          (http/limits.ts)
 *   4. price              — free routes skip to step 8
 *   5. challenge          — no credential → 402 + fresh challenge    (pricing/challenges.ts)
 *   6. credential         — parse, bind, expiry, pin to this route   (protocol/credential.ts)
 *   7. session action     — open / voucher / topUp / close           (session/dispatch.ts)
 *                           management requests end here: 204 + receipt
 *   8. forward            — stream to the upstream, decide the charge, attach the receipt
 *                                                                     (http/relay.ts, upstream/)
 *
 * Errors at any step are problem+json; on priced routes every 4xx carries a fresh challenge.
 * This file holds the order of the steps and nothing else.
 */
import type { HttpBindings } from '@hono/node-server'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import { Hono, type Context } from 'hono'
import type { Logger } from 'pino'
import { randomUUID } from 'node:crypto'
import { GatewayError } from './errors.js'
import { writeAccessLine, type AccessEntry } from './http/access-log.js'
import { mountHealth, type Readiness } from './http/health.js'
import type { Metrics } from './http/metrics.js'
import { checkLimits, requestShape } from './http/limits.js'
import { asGatewayError, problemResponse } from './http/problem.js'
import { relay, sessionReceipt, type PaidRelay } from './http/relay.js'
import type { LedgerPort } from './ledger/port.js'
import type { ChallengeIssuer } from './pricing/challenges.js'
import type { Route, RouteMatch, RouteTable } from './pricing/route-table.js'
import { parseAuthorization } from './protocol/credential.js'
import type { SessionContext } from './session/context.js'
import { handleCredential, isManagementRequest, type ManagementDone } from './session/dispatch.js'
import type { UpstreamPools } from './upstream/pool.js'

export type AppDeps = {
  readonly routes: RouteTable
  readonly challenges: ChallengeIssuer
  readonly session: SessionContext
  readonly ledger: LedgerPort
  readonly upstreams: UpstreamPools
  readonly logger: Logger
  /** One line per request; fixed fields only, so it may skip redaction. */
  readonly accessLogger: Logger
  readonly readiness: Readiness
  readonly metrics: Metrics
  /** Bearer token of the metrics endpoint; without it the endpoint is not mounted. */
  readonly metricsToken: string | undefined
  readonly limits: { readonly reservedPrefix: string; readonly maxHeaderBytes: number }
  /** With payments off every route is forwarded as free (a plain-proxy reference for benchmarks). */
  readonly payments: boolean
  readonly now: () => number
}

type Env = { Bindings: HttpBindings; Variables: { entry: AccessEntry } }

const managementOutcome = {
  open: 'management',
  voucher: 'management',
  topUp: 'top-up',
  close: 'close',
} as const satisfies Record<ManagementDone['action'], string>

export function createApp(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>()
  const { challenges, logger, now } = deps

  app.use('*', async (c, next) => {
    const entry: AccessEntry = {
      // A client may name its request; the id is echoed into logs, so keep it short.
      requestId: c.req.header('x-request-id')?.slice(0, 128) ?? randomUUID(),
      method: c.req.method,
      startedAt: now(),
    }
    c.set('entry', entry)
    // Every answer names its request, so a client can quote it and an operator find the log line.
    c.env.outgoing.setHeader('x-request-id', entry.requestId)
    c.env.outgoing.once('close', () => {
      entry.status = c.env.outgoing.statusCode
      writeAccessLine(deps.accessLogger, entry, now())
      deps.metrics.request(entry)
    })
    await next()
    if (entry.outcome === undefined) {
      // Only the gateway's own endpoints (health, metrics) get here without an outcome: a fixed
      // set of paths, so the route pattern may name them.
      entry.outcome = 'gateway'
      entry.route = `${c.req.method} ${c.req.routePath}`
    }
  })

  mountHealth(app, deps)

  app.all('*', async (c) => {
    const entry = c.get('entry')
    const { incoming, outgoing } = c.env
    let route: Route | undefined
    try {
      const match = matchRoute(deps, c)
      route = match.route
      entry.route = `${route.method} ${route.path}`
      entry.price = route.price?.toString() ?? 'free'
      checkLimits(
        incoming,
        deps.limits.maxHeaderBytes,
        deps.upstreams.get(route.upstream).spec.maxRequestBodyBytes,
      )

      if (route.price === undefined || !deps.payments) {
        return await forwardResponse(c, deps, match, undefined)
      }
      const credential = parseAuthorization(c.req.header('authorization'))
      if (!credential) {
        entry.outcome = 'challenge'
        return challengeResponse(deps, route, entry)
      }
      const payment = await handleCredential({
        session: deps.session,
        challenges,
        route,
        credential,
        request: requestShape(incoming),
        now: now(),
      })
      entry.action = payment.action
      entry.channelId = payment.channelId
      if (payment.kind === 'management') {
        entry.outcome = managementOutcome[payment.action]
        return managementResponse(payment, now())
      }
      return await forwardResponse(c, deps, match, {
        channelId: payment.channelId,
        challengeId: payment.challengeId,
        snapshot: payment.authorized.snapshot,
        reservationId: payment.authorized.reservationId,
        txHash: payment.txHash,
      })
    } catch (error) {
      const failure = asGatewayError(error)
      entry.outcome = failure.code
      if (failure.code === 'internal-error')
        logger.error({ err: error, requestId: entry.requestId }, 'request failed')
      if (outgoing.headersSent) {
        outgoing.destroy()
        return RESPONSE_ALREADY_SENT
      }
      return errorResponse(deps, failure, route, entry)
    }
  })

  return app
}

/** Step 3: the route, or 404. A payment POST to a route's path may use another method's route. */
function matchRoute(deps: AppDeps, c: Context<Env>): RouteMatch {
  const path = c.req.path
  const match = deps.routes.match(c.req.method, path)
  if (match) return match
  if (c.req.method === 'POST' && isManagementRequest(requestShape(c.env.incoming))) {
    const byPath = deps.routes.matchPath(path)
    if (byPath?.route.price !== undefined && parseAuthorization(c.req.header('authorization'))) {
      return byPath
    }
  }
  throw new GatewayError('route-not-found', 'No route of this gateway serves this method and path.')
}

/** Step 5: 402 with a fresh challenge. */
function challengeResponse(deps: AppDeps, route: Route, entry: AccessEntry): Response {
  return errorResponse(
    deps,
    new GatewayError('payment-required', 'Payment is required.', {
      details: { price: route.price?.toString() ?? '0', unitType: route.unitType },
    }),
    route,
    entry,
  )
}

/** A problem answer; on priced routes every 4xx carries a fresh challenge. */
function errorResponse(
  deps: AppDeps,
  error: GatewayError,
  route: Route | undefined,
  entry: AccessEntry,
): Response {
  const priced = route?.price !== undefined && deps.payments
  const issued = priced && error.status < 500 ? deps.challenges.issue(route, deps.now()) : undefined
  return problemResponse(error, {
    requestId: entry.requestId,
    challenge: issued ? { header: issued.header, id: issued.challenge.id } : undefined,
  })
}

/** Step 7's end for management requests: 204 with the receipt. */
function managementResponse(payment: ManagementDone, now: number): Response {
  return new Response(null, {
    status: 204,
    headers: {
      'payment-receipt': sessionReceipt({
        channelId: payment.channelId,
        challengeId: payment.challengeId,
        snapshot: payment.snapshot,
        txHash: payment.txHash,
        now,
      }),
      'cache-control': 'private',
    },
  })
}

/** Step 8: stream to the upstream and back, deciding the charge at the response head. */
async function forwardResponse(
  c: Context<Env>,
  deps: AppDeps,
  match: RouteMatch,
  paid: PaidRelay | undefined,
): Promise<Response> {
  const entry = c.get('entry')
  const raw = c.env.incoming.url ?? '/'
  const query = raw.indexOf('?')
  // Set before relaying: the access line is written when the response closes, which for a
  // streamed answer can be before `relay` returns.
  entry.outcome = 'forwarded'
  const outcome = await relay({
    upstream: deps.upstreams.get(match.route.upstream),
    route: match.route,
    target: c.req.path + (query >= 0 ? raw.slice(query) : ''),
    request: c.env.incoming,
    response: c.env.outgoing,
    ledger: deps.ledger,
    paid,
    entry,
    now: deps.now,
  })
  switch (outcome.kind) {
    case 'failed':
      entry.outcome = outcome.error.code
      return errorResponse(deps, outcome.error, match.route, entry)
    case 'responded':
      entry.outcome = outcome.completed ? 'forwarded' : outcome.error.code
      return RESPONSE_ALREADY_SENT
    case 'aborted':
      entry.outcome = 'client-aborted'
      return RESPONSE_ALREADY_SENT
  }
}
