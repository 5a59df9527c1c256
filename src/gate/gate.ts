/**
 * The payment gate: admits a request as free, answers it itself, or admits it as paid with a
 * {@link Charge} that decides the price once the upstream has answered.
 *
 *   target   the raw request target, parsed; a malformed one → 400     (gate/target.ts)
 *   route    method + decoded path → route; unknown → 404            (pricing/route-table.ts)
 *   credentials  a Payment credential beside another one → 400 (protocol/authorization.ts)
 *   limits   header bytes; a declared body larger than the upstream takes
 *   price    free route (or payments off) → free; shadow route without credential → shadow
 *   challenge no credential → 402 with the offers the client accepts   (gate/offers.ts)
 *            (Accept-Payment), or 406 when it accepts none; 429 past the client's
 *            challenge rate                                           (limits/limits.ts)
 *   quote    a credential for a challenge issued under an earlier configuration is held to
 *            that challenge's price until it expires                (gate/quotes.ts)
 *   recovery a recovery proof → 204 with the payer's open channel     (gate/recovery.ts)
 *   charge   a one-shot payment → verified, claimed once → paid        (gate/payment.ts)
 *   session  credential → open / voucher / topUp / close              (session/dispatch.ts)
 *            management → 204 + receipt; content → 429 past the route's payer or channel
 *            rate (asked once the voucher signature is verified), else paid, price reserved
 *
 * Every failure becomes a problem answer here (never a thrown error): on a priced route a 4xx
 * carries a fresh challenge, and an unknown error is a 500 that says nothing internal. Nothing in
 * this module knows the HTTP framework or the upstream; `src/http/` adapts it.
 */
import type { Logger } from 'pino'
import { GatewayError } from '../errors.js'
import type { LedgerPort } from '../ledger/port.js'
import type { Limits } from '../limits/limits.js'
import type { ChallengeIssuer, IssuedChallenge } from '../pricing/challenges.js'
import type { Route, RouteTable } from '../pricing/route-table.js'
import { paymentAuthorization } from '../protocol/authorization.js'
import { multipleCredentials, type Credential } from '../protocol/credential.js'
import type { SessionContext } from '../session/context.js'
import type { VoucherUse } from '../session/authorize.js'
import { handleCredential, type SessionOutcome } from '../session/dispatch.js'
import { managementAnswer, problemAnswer, type Answer } from './answer.js'
import { createCharge, receiptOf, type Charge, type ChargedSignal } from './charge.js'
import { challengesFor, intentsOf, negotiate, offerOf, unacceptable } from './offers.js'
import { admitPayment } from './payment.js'
import { recover } from './recovery.js'
import { refuseOutdatedClose, snapshotChallenge } from './snapshots.js'
import { isManagementRequest, readCredential, type GateRequest } from './request.js'
import type { RequestTarget } from './target.js'
import { noQuotes, type QuoteBook } from './quotes.js'
import { shadowPrice } from './shadow.js'
import type { UnresolvedCharges } from './unresolved.js'
import type { HoldConfirms } from './confirms.js'

export type GateDeps = {
  readonly routes: RouteTable
  readonly challenges: ChallengeIssuer
  readonly session: SessionContext
  readonly ledger: LedgerPort
  /** Told of every committed charge (the settler in this process, when one runs). */
  readonly onCharged?: ChargedSignal | undefined
  readonly unresolved: UnresolvedCharges
  /** Where served holds are confirmed in the background (gate/confirms.ts). */
  readonly confirms?: HoldConfirms | undefined
  /** How long an unknown commit is retried before its answer goes out regardless. */
  readonly resolveMs: number
  readonly maxHeaderBytes: number
  /** The largest request body the route's upstream accepts. */
  readonly maxBodyBytes: (route: Route) => number
  /** With payments off every route is free (a plain-proxy reference for benchmarks). */
  readonly payments: boolean
  /** Rate limits on challenges and paid requests; none when absent. */
  readonly limits?: Limits | undefined
  /** Challenges issued under configurations a reload replaced, still payable (gate/quotes.ts). */
  readonly quotes?: QuoteBook | undefined
  readonly logger: Logger
  readonly now: () => number
}

/** The origin-form target to forward, exactly as the client sent it (gate/target.ts). */
type Forward = { readonly route: Route; readonly target: string }

export type Admission =
  | ({ readonly kind: 'free' } & Forward)
  /** Shadow mode: forwarded unpaid; the answer carries `Payment-Shadow-Price` (gate/shadow.ts). */
  | ({ readonly kind: 'shadow'; readonly price: string } & Forward)
  | ({ readonly kind: 'paid'; readonly charge: Charge } & Forward)
  | {
      readonly kind: 'answered'
      readonly route: Route | undefined
      readonly answer: Answer
      /** Set when a credential was handled (management answers). */
      readonly session?: SessionOutcome
    }

export type Gate = {
  admit(request: GateRequest): Promise<Admission>
  /** The problem answer for a failure on `route` (a challenge on priced 4xx answers). */
  problem(error: GatewayError, route: Route | undefined, requestId: string): Answer
}

const managementOutcome = {
  open: 'management',
  voucher: 'management',
  topUp: 'top-up',
  close: 'close',
} as const satisfies Record<SessionOutcome['action'], string>

export function createGate(deps: GateDeps): Gate {
  const { challenges, now } = deps

  /**
   * The problem answer for a failure on `route`; a priced route's 4xx carries fresh challenges of
   * the offers the request accepts (`session` issues the session one itself, with a snapshot).
   */
  const problem = (
    error: GatewayError,
    at: {
      readonly route: Route | undefined
      readonly request: Pick<GateRequest, 'method' | 'acceptPayment' | 'requestId'>
      readonly receipt?: string | undefined
      readonly session?: (() => IssuedChallenge) | undefined
    },
  ): Answer => {
    const { route, request } = at
    const priced = route?.price !== undefined && deps.payments
    return problemAnswer(error, {
      requestId: request.requestId,
      // A client over a rate gets no challenge: it would be one more issued past the limit.
      challenges:
        priced && error.status < 500 && error.code !== 'rate-limited'
          ? challengesFor({ challenges, route, request, now: now(), session: at.session })
          : [],
      receipt: at.receipt,
    })
  }

  const admit = async (request: GateRequest): Promise<Admission> => {
    const origin = originOf(request.target)
    const found = findRoute(deps, request, origin.path)
    const { route } = found
    // On every route, free ones too: the upstream never gets a line holding a Payment credential,
    // and a client that mixed one with another credential is told so rather than half-served.
    if (paymentAuthorization(request.authorization).kind === 'ambiguous') {
      throw multipleCredentials()
    }
    checkLimits(request, deps.maxHeaderBytes, deps.maxBodyBytes(route))
    const forward = { route, target: upstreamTarget(route, origin) }
    if (route.price === undefined || !deps.payments) return { kind: 'free', ...forward }

    const credential = found.credential ?? readCredential(request)
    if (!credential && route.shadow) {
      return { kind: 'shadow', ...forward, price: shadowPrice(route, deps.session.terms.currency) }
    }
    if (!credential) {
      if (negotiate(request, route).length === 0) throw unacceptable(request, route)
      await deps.limits?.challenge(request.client)
      const required = new GatewayError('payment-required', 'Payment is required.', {
        details: { price: route.price.toString(), unitType: route.unitType },
      })
      const answer = { ...problem(required, { route, request }), outcome: 'challenge' }
      return { kind: 'answered', route, answer }
    }
    const offer = offerOf(credential.challenge)
    if (offer === 'charge') {
      if (found.managementOnly) {
        throw new GatewayError(
          'invalid-challenge',
          'A one-shot charge pays for a request the route serves; this one is not forwarded.',
        )
      }
      const paymentDeps = {
        challenges,
        session: deps.session,
        logger: deps.logger,
        problem: (error: GatewayError, receipt: string | undefined) =>
          problem(error, { route, request, receipt }),
      }
      const charge = await admitPayment(paymentDeps, { route, credential })
      return { kind: 'paid', charge, ...forward }
    }
    if (offer === 'recovery') {
      const answer = await recover({
        challenges,
        ledger: deps.ledger,
        terms: deps.session.terms,
        route,
        credential,
        now: now(),
      })
      return { kind: 'answered', route, answer }
    }
    if (offer === 'session' && !intentsOf(route).includes('session')) {
      throw new GatewayError('invalid-challenge', 'This route is not paid with a session.')
    }
    // The terms the credential is held to: the route's, or an earlier quote's (gate/quotes.ts).
    const quoted = quoteOf(deps, route, credential, now())
    const terms = { route: quoted.route, challenges: quoted.challenges, session: deps.session }
    await refuseOutdatedClose({ ...terms, credential, now: now() })
    const session = await handleCredential({
      ...terms,
      credential,
      management:
        found.managementOnly || isManagementRequest({ ...request, hasQuery: origin.hasQuery }),
      admit: paidLimit(deps.limits, route),
      now: now(),
    })
    if (session.management) {
      const receipt = receiptOf(session, session.snapshot, now())
      const answer = managementAnswer(receipt, managementOutcome[session.action])
      return { kind: 'answered', route, answer, session }
    }
    const charge = createCharge(
      {
        ledger: deps.ledger,
        onCharged: deps.onCharged,
        unresolved: deps.unresolved,
        confirms: deps.confirms,
        logger: deps.logger,
        now,
        resolveMs: deps.resolveMs,
        problem: (error, receipt) => problem(error, { route, request, receipt }),
      },
      quoted.route,
      session,
    )
    // Forwarded as the current route says; priced (and logged) as the quote was.
    return { kind: 'paid', charge, ...forward, route: { ...route, price: quoted.route.price } }
  }

  return {
    async admit(request) {
      try {
        return await admit(request)
      } catch (error) {
        const failure = asGatewayError(error)
        if (failure.code === 'internal-error') {
          deps.logger.error({ err: error, requestId: request.requestId }, 'request failed')
        }
        const route = routeOf(deps, request)
        const session = route
          ? await snapshotChallenge({
              failure,
              route,
              credential: credentialOf(request),
              session: deps.session,
              challenges,
              now,
            })
          : undefined
        return { kind: 'answered', route, answer: problem(failure, { route, request, session }) }
      }
    },
    problem: (error, route, requestId) =>
      problem(error, { route, request: { method: 'GET', acceptPayment: undefined, requestId } }),
  }
}

/**
 * The route and issuer a credential is held to: the current ones, unless its challenge fails them
 * and was issued, still unexpired, under an earlier configuration for this method and path.
 */
function quoteOf(
  deps: GateDeps,
  route: Route,
  credential: Credential,
  now: number,
): { route: Route; challenges: ChallengeIssuer } {
  const current = { route, challenges: deps.challenges }
  if (!deps.quotes) return current
  try {
    deps.challenges.verify(route, credential.challenge, now)
    return current
  } catch {
    return deps.quotes.quoteFor(route, credential.challenge, now) ?? current
  }
}

/** The route's payer and channel rates as a voucher's admission check; none without rates. */
function paidLimit(limits: Limits | undefined, route: Route): VoucherUse['admit'] {
  const { rates } = route
  if (!limits || !rates) return undefined
  return (who) => limits.paid(route, rates, who)
}

/** Any thrown value as a GatewayError (unknown ones become `internal-error`). */
export function asGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error
  return new GatewayError('internal-error', 'The gateway failed to handle the request.', {
    cause: error,
  })
}

/** The request's credential, or `undefined` when it has none or it is malformed. */
function credentialOf(request: GateRequest): Credential | undefined {
  try {
    return readCredential(request)
  } catch {
    return undefined
  }
}

/** Where a request belongs; `managementOnly` when it may only pay, never be forwarded. */
type Target = {
  readonly route: Route
  readonly managementOnly: boolean
  /** The credential, when finding the route needed it parsed. */
  readonly credential?: Credential
}

/**
 * The route of a request, or 404. A `POST` with a Payment credential that no priced route of its
 * method and path takes is a management request for the route its challenge was issued for: mppx
 * posts `close` and `topUp` to the URL it last fetched — a free route, a `GET` route, a URL with a
 * query — and a close that cannot reach the gateway leaves the payer's deposit locked until a
 * forced close. Such a request is never forwarded: `open` and `voucher` on it only top up (204).
 */
function findRoute(deps: GateDeps, request: GateRequest, path: string): Target {
  const route = deps.routes.match(request.method, path)?.route
  if (!route && request.method === 'HEAD' && deps.payments) {
    // mppx recovers a session with a HEAD to the URL it is about to pay, whatever that URL's
    // method: a priced route of another method takes it, for recovery and management only.
    const owner = pricedRouteAt(deps.routes, path)
    if (owner) return { route: owner, managementOnly: true }
  }
  if (route?.price !== undefined || request.method !== 'POST') {
    if (route) return { route, managementOnly: false }
    throw notFound()
  }
  const credential = readCredential(request)
  if (!credential) {
    if (route) return { route, managementOnly: false }
    throw notFound()
  }
  // The route of this path under another method, when the challenge states its terms (the
  // URL mppx last paid), else any route whose terms the challenge states.
  const byPath = route ?? deps.routes.matchPath(path)?.route
  const owner =
    deps.challenges.routeFor(credential.challenge, byPath) ??
    (deps.quotes ?? noQuotes).ownerOf(credential.challenge, deps.routes, deps.now())
  if (!owner) {
    throw new GatewayError('invalid-challenge', 'The challenge states the terms of no route here.')
  }
  return { route: owner, managementOnly: true, credential }
}

/** The first priced route that serves `path` under any method. */
function pricedRouteAt(routes: RouteTable, path: string): Route | undefined {
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    const route = routes.match(method, path)?.route
    if (route?.price !== undefined) return route
  }
  return undefined
}

function notFound(): GatewayError {
  return new GatewayError(
    'route-not-found',
    'No route of this gateway serves this method and path.',
  )
}

/** The route a failed request is answered for (a priced one gets a fresh challenge). */
function routeOf(deps: GateDeps, request: GateRequest): Route | undefined {
  if (request.target.kind !== 'origin') return undefined
  const { path } = request.target
  try {
    return findRoute(deps, request, path).route
  } catch {
    return deps.routes.match(request.method, path)?.route
  }
}

/**
 * What the upstream receives after its base path: the client's own target, byte for byte (minus a
 * fragment), or — for a route with an `upstreamPath` — that path for the matched parameters
 * (percent-encoded again) with the client's query.
 */
function upstreamTarget(route: Route, origin: Extract<RequestTarget, { kind: 'origin' }>): string {
  if (route.upstreamPath === undefined) return origin.target
  const query = origin.target.indexOf('?')
  return route.upstreamPathFor(origin.path) + (query >= 0 ? origin.target.slice(query) : '')
}

/** The parsed target, or `400 bad-request-target` (never routed, never forwarded). */
function originOf(target: RequestTarget): Extract<RequestTarget, { kind: 'origin' }> {
  if (target.kind === 'origin') return target
  throw new GatewayError('bad-request-target', target.reason)
}

/**
 * Limits checked before any payment work, so an oversized request changes nothing and costs
 * nothing. (A chunked body that grows too large is cut by the forwarder while streaming.)
 */
function checkLimits(request: GateRequest, maxHeaderBytes: number, maxBodyBytes: number): void {
  if (request.headerBytes > maxHeaderBytes) {
    throw new GatewayError('headers-too-large', 'The request headers are too large.', {
      details: { maxHeaderBytes },
    })
  }
  if (request.contentLength !== undefined && request.contentLength > maxBodyBytes) {
    throw new GatewayError('body-too-large', 'The request body is too large.', {
      details: { maxBodyBytes },
    })
  }
}
