/**
 * One configuration generation: everything the request pipeline derives from the live part of
 * the configuration (config/live-settings.ts) — route table, challenge issuer, upstream pools,
 * limits, payment gate, discovery documents — built together and never changed afterwards.
 *
 * Why generations: a reload must swap routes, prices, upstreams and limits at once, and a request
 * must see one configuration from its first step to its last. The pipeline takes the current
 * generation once per request (app.ts) and keeps it; a reload builds the next generation aside
 * and makes it current in one assignment. A request already admitted finishes under the
 * generation it started with (its price, its upstream pool); the next request gets the new one.
 *
 * What lives longer than a generation is shared, not rebuilt: the ledger, the chain adapters,
 * the session machinery, the rate limiter's counts, the metrics, and every upstream pool whose
 * settings did not change (its connections are kept). A pool a reload dropped or changed is
 * closed once no request of the generations that used it is still in flight.
 */
import type { Logger } from 'pino'
import type { Config } from './config/schema.js'
import type { ChargedSignal } from './gate/charge.js'
import { createGate, type Gate } from './gate/gate.js'
import type { QuoteBook } from './gate/quotes.js'
import type { UnresolvedCharges } from './gate/unresolved.js'
import type { HoldConfirms } from './gate/confirms.js'
import { countChallenges, type Metrics } from './http/metrics.js'
import type { LedgerPort } from './ledger/port.js'
import { gcraOf } from './limits/gcra.js'
import { createLimits, routeRates } from './limits/limits.js'
import type { RateLimiter } from './limits/port.js'
import { createChallengeIssuer, type ChallengeIssuer } from './pricing/challenges.js'
import { discoveryDocuments, type DiscoveryDocuments } from './pricing/discovery.js'
import { compileRoutes, type RouteSpec, type RouteTable } from './pricing/route-table.js'
import { termsOf } from './pricing/terms.js'
import { challengeKey } from './protocol/challenge.js'
import type { SessionContext } from './session/context.js'
import { createUpstreamPools, type UpstreamPools } from './upstream/pool.js'

export type Generation = {
  /** 1 at start, one more per applied reload. */
  readonly number: number
  /** The configuration in effect (restart-only settings as the process started with them). */
  readonly config: Config
  readonly routes: RouteTable
  readonly challenges: ChallengeIssuer
  readonly upstreams: UpstreamPools
  readonly gate: Gate
  readonly discovery: DiscoveryDocuments | undefined
}

/** What every generation shares (built once per process). */
export type GenerationDeps = {
  readonly session: SessionContext
  readonly ledger: LedgerPort
  /** Told of every committed charge (the settler in this process, when one runs). */
  readonly onCharged?: ChargedSignal | undefined
  readonly unresolved: UnresolvedCharges
  readonly confirms?: HoldConfirms | undefined
  readonly limiter: RateLimiter
  readonly metrics: Metrics
  readonly logger: Logger
  readonly now: () => number
  /** With payments off every route is forwarded free (the plain-proxy reference). */
  readonly payments: boolean
}

export function routeSpecs(config: Config): RouteSpec[] {
  return config.routes.map((r) => ({
    method: r.method,
    path: r.path,
    upstream: r.upstream,
    price: r.price.kind === 'paid' ? r.price.amount : undefined,
    unitType: r.unitType,
    description: r.description,
    charge: r.charge,
    servedStatuses: r.servedStatuses,
    ...(config.upstreams[r.upstream]?.clientAuthorization === 'passthrough'
      ? { credentialHeader: 'Payment-Authorization' as const }
      : {}),
    upstreamPath: r.upstreamPath,
    shadow: r.price.kind === 'paid' && (r.shadow ?? config.server.shadow),
    metered: r.metered,
    intents: r.intents,
    rates: routeRates(r.rateLimit),
  }))
}

/**
 * Builds a generation from a valid configuration. `previous` lends its unchanged upstream pools;
 * `quotes` holds the challenges of earlier generations that are still payable.
 */
export function buildGeneration(options: {
  number: number
  config: Config
  deps: GenerationDeps
  previous?: Generation | undefined
  quotes?: QuoteBook | undefined
}): Generation {
  const { config, deps } = options
  const terms = termsOf(config)
  // The session terms follow the upstreams' deadlines (a reservation outlives the slowest head).
  const session: SessionContext = { ...deps.session, terms }
  const routes = compileRoutes(routeSpecs(config))
  const challenges = countChallenges(
    createChallengeIssuer({
      terms,
      routes: routes.routes,
      keys: [config.server.challengeSecret, ...config.server.previousChallengeSecrets].map(
        challengeKey,
      ),
    }),
    deps.metrics,
  )
  const upstreams = createUpstreamPools(
    Object.entries(config.upstreams).map(([name, u]) => ({ name, ...u })),
    options.previous ? { reuse: options.previous.upstreams } : {},
  )
  const { challengesPerClient } = config.limits
  const limits = createLimits({
    limiter: deps.limiter,
    challenges: challengesPerClient ? gcraOf(challengesPerClient) : undefined,
    logger: deps.logger,
    now: deps.now,
    onLimited: (limit) => deps.metrics.rateLimited(limit),
  })
  const gate = createGate({
    routes,
    challenges,
    session,
    ledger: deps.ledger,
    onCharged: deps.onCharged,
    unresolved: deps.unresolved,
    confirms: deps.confirms,
    // Long enough to ride out a Redis restart or failover, short enough for a client to wait.
    resolveMs: 2_000,
    maxHeaderBytes: config.server.maxHeaderBytes,
    maxBodyBytes: (route) => upstreams.get(route.upstream).spec.maxRequestBodyBytes,
    payments: deps.payments,
    limits,
    quotes: options.quotes,
    logger: deps.logger,
    now: deps.now,
  })
  return {
    number: options.number,
    config,
    routes,
    challenges,
    upstreams,
    gate,
    discovery: discoveryDocuments(config),
  }
}
