/**
 * The payment gate: admits a request as free, answers it itself, or admits it as paid with a
 * {@link Charge} that decides the price once the upstream has answered.
 *
 *   route    method + path → route; unknown → 404                    (pricing/route-table.ts)
 *   limits   header bytes; a declared body larger than the upstream takes
 *   price    free route (or payments off) → free
 *   challenge no credential → 402 with a fresh challenge              (pricing/challenges.ts)
 *   session  credential → open / voucher / topUp / close              (session/dispatch.ts)
 *            management → 204 + receipt; content → paid, price reserved
 *
 * Every failure becomes a problem answer here (never a thrown error): on a priced route a 4xx
 * carries a fresh challenge, and an unknown error is a 500 that says nothing internal. Nothing in
 * this module knows the HTTP framework or the upstream; `src/http/` adapts it.
 */
import type { Logger } from 'pino'
import { GatewayError } from '../errors.js'
import type { LedgerPort } from '../ledger/port.js'
import type { ChallengeIssuer } from '../pricing/challenges.js'
import type { Route, RouteTable } from '../pricing/route-table.js'
import { parseAuthorization } from '../protocol/credential.js'
import type { SessionContext } from '../session/context.js'
import { handleCredential, type SessionOutcome } from '../session/dispatch.js'
import { managementAnswer, problemAnswer, type Answer } from './answer.js'
import { createCharge, receiptOf, type Charge } from './charge.js'
import { isManagementRequest, type GateRequest } from './request.js'
import type { UnresolvedCharges } from './unresolved.js'

export type GateDeps = {
  readonly routes: RouteTable
  readonly challenges: ChallengeIssuer
  readonly session: SessionContext
  readonly ledger: LedgerPort
  readonly unresolved: UnresolvedCharges
  /** How long an unknown commit is retried before its answer goes out regardless. */
  readonly resolveMs: number
  readonly maxHeaderBytes: number
  /** The largest request body the route's upstream accepts. */
  readonly maxBodyBytes: (route: Route) => number
  /** With payments off every route is free (a plain-proxy reference for benchmarks). */
  readonly payments: boolean
  readonly logger: Logger
  readonly now: () => number
}

export type Admission =
  | { readonly kind: 'free'; readonly route: Route }
  | { readonly kind: 'paid'; readonly route: Route; readonly charge: Charge }
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

  const problem = (
    error: GatewayError,
    route: Route | undefined,
    requestId: string,
    receipt?: string,
  ): Answer => {
    const priced = route?.price !== undefined && deps.payments
    return problemAnswer(error, {
      requestId,
      challenge: priced && error.status < 500 ? challenges.issue(route, now()) : undefined,
      receipt,
    })
  }

  const admit = async (request: GateRequest): Promise<Admission> => {
    const route = matchRoute(deps, request)
    checkLimits(request, deps.maxHeaderBytes, deps.maxBodyBytes(route))
    if (route.price === undefined || !deps.payments) return { kind: 'free', route }

    const credential = parseAuthorization(request.authorization)
    if (!credential) {
      const required = new GatewayError('payment-required', 'Payment is required.', {
        details: { price: route.price.toString(), unitType: route.unitType },
      })
      const answer = { ...problem(required, route, request.requestId), outcome: 'challenge' }
      return { kind: 'answered', route, answer }
    }
    const session = await handleCredential({
      session: deps.session,
      challenges,
      route,
      credential,
      management: isManagementRequest(request),
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
        unresolved: deps.unresolved,
        logger: deps.logger,
        now,
        resolveMs: deps.resolveMs,
        problem: (error, receipt) => problem(error, route, request.requestId, receipt),
      },
      route,
      session,
    )
    return { kind: 'paid', route, charge }
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
        const route = matchRouteOrUndefined(deps, request)
        return { kind: 'answered', route, answer: problem(failure, route, request.requestId) }
      }
    },
    problem: (error, route, requestId) => problem(error, route, requestId),
  }
}

/** Any thrown value as a GatewayError (unknown ones become `internal-error`). */
export function asGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error
  return new GatewayError('internal-error', 'The gateway failed to handle the request.', {
    cause: error,
  })
}

/** The route, or 404. A payment POST to a route's path may use another method's route. */
function matchRoute(deps: GateDeps, request: GateRequest): Route {
  const route = matchRouteOrUndefined(deps, request)
  if (route) return route
  throw new GatewayError('route-not-found', 'No route of this gateway serves this method and path.')
}

function matchRouteOrUndefined(deps: GateDeps, request: GateRequest): Route | undefined {
  const match = deps.routes.match(request.method, request.path)
  if (match) return match.route
  // mppx posts management credentials (topUp, close) to the URL it last paid, whatever that
  // route's method: let such a POST reach the priced route of the same path.
  if (request.method === 'POST' && isManagementRequest(request)) {
    const byPath = deps.routes.matchPath(request.path)?.route
    if (byPath?.price !== undefined && hasPaymentCredential(request.authorization)) return byPath
  }
  return undefined
}

function hasPaymentCredential(authorization: string | undefined): boolean {
  try {
    return parseAuthorization(authorization) !== undefined
  } catch {
    // A malformed credential still names the payment scheme: the priced route answers it.
    return true
  }
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
