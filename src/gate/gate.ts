/**
 * The payment gate: admits a request as free, answers it itself, or admits it as paid with a
 * {@link Charge} that decides the price once the upstream has answered.
 *
 *   route    method + path → route; unknown → 404                    (pricing/route-table.ts)
 *   limits   header bytes; a declared body larger than the upstream takes
 *   price    free route (or payments off) → free; shadow route without credential → shadow
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
import { parseAuthorization, type Credential } from '../protocol/credential.js'
import type { SessionContext } from '../session/context.js'
import { handleCredential, type SessionOutcome } from '../session/dispatch.js'
import { managementAnswer, problemAnswer, type Answer } from './answer.js'
import { createCharge, receiptOf, type Charge } from './charge.js'
import { isManagementRequest, type GateRequest } from './request.js'
import { shadowPrice } from './shadow.js'
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
  /** Shadow mode: forwarded unpaid; the answer carries `Payment-Shadow-Price` (gate/shadow.ts). */
  | { readonly kind: 'shadow'; readonly route: Route; readonly price: string }
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
    const target = findRoute(deps, request)
    const { route } = target
    checkLimits(request, deps.maxHeaderBytes, deps.maxBodyBytes(route))
    if (route.price === undefined || !deps.payments) return { kind: 'free', route }

    const credential = target.credential ?? parseAuthorization(request.authorization)
    if (!credential && route.shadow) {
      return { kind: 'shadow', route, price: shadowPrice(route, deps.session.terms.currency) }
    }
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
      management: target.managementOnly || isManagementRequest(request),
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
        const route = routeOf(deps, request)
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
function findRoute(deps: GateDeps, request: GateRequest): Target {
  const route = deps.routes.match(request.method, request.path)?.route
  if (route?.price !== undefined || request.method !== 'POST') {
    if (route) return { route, managementOnly: false }
    throw notFound()
  }
  const credential = parseAuthorization(request.authorization)
  if (!credential) {
    if (route) return { route, managementOnly: false }
    throw notFound()
  }
  const owner = deps.challenges.routeFor(credential.challenge)
  if (!owner) {
    throw new GatewayError('invalid-challenge', 'The challenge states the terms of no route here.')
  }
  return { route: owner, managementOnly: true, credential }
}

function notFound(): GatewayError {
  return new GatewayError(
    'route-not-found',
    'No route of this gateway serves this method and path.',
  )
}

/** The route a failed request is answered for (a priced one gets a fresh challenge). */
function routeOf(deps: GateDeps, request: GateRequest): Route | undefined {
  try {
    return findRoute(deps, request).route
  } catch {
    return deps.routes.match(request.method, request.path)?.route
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
