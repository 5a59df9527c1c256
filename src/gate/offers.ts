/**
 * Which challenges a request for a priced route gets: the route's offers for this request, in the
 * server's order, narrowed and reordered by the client's `Accept-Payment` (protocol/accept-payment.ts).
 *
 * The offers of a request, in the route's order of intents (`intents` in gateway.yaml; by default
 * the session, then the one-shot charge when the gateway takes charges):
 *  - the Tempo session;
 *  - the one-shot Tempo charge of the route's price (gate/payment.ts);
 *  - session recovery (a zero-amount `tempo/charge` the client answers with a signed proof of its
 *    account, gate/recovery.ts) on a `HEAD` to a route paid by session: mppx 0.11's session
 *    manager asks for it with a `HEAD` carrying `Accept-Payment: tempo/charge` before it opens a
 *    new channel. It goes before the priced charge, since mppx's bootstrap takes the first
 *    `tempo/charge` challenge it finds.
 *
 * When the client accepts none of the offers the request is answered `406
 * payment-method-unacceptable` (with every offer's challenge, so the client sees what it could
 * pay with); an answer that must carry a challenge anyway (a problem on a priced route) falls back
 * to every offer.
 */
import { GatewayError } from '../errors.js'
import type { ChallengeIssuer, IssuedChallenge, Offer, OfferName } from '../pricing/challenges.js'
import { offerOfEchoed, offers } from '../pricing/challenges.js'
import type { Route, RouteIntent } from '../pricing/route-table.js'
import { acceptedOffers, parseAcceptPayment } from '../protocol/accept-payment.js'
import type { GateRequest } from './request.js'

/** The intents a priced route is paid with, in its order (session only unless configured). */
export function intentsOf(route: Pick<Route, 'intents'>): readonly RouteIntent[] {
  return route.intents ?? ['session']
}

/** The offers of a request for a priced route, in the server's order (see the module header). */
export function offersFor(request: Pick<GateRequest, 'method'>, route: Route): Offer[] {
  const intents = intentsOf(route)
  const list: Offer[] = []
  if (request.method === 'HEAD' && intents.includes('session')) {
    list.push(offers.session, offers.recovery)
    if (intents.includes('charge')) list.push(offers.charge)
    return list
  }
  return intents.map((intent) => offers[intent])
}

/** The offers the client accepts, most preferred first; empty when it accepts none. */
export function negotiate(
  request: Pick<GateRequest, 'method' | 'acceptPayment'>,
  route: Route,
): Offer[] {
  return acceptedOffers(offersFor(request, route), parseAcceptPayment(request.acceptPayment))
}

/**
 * Fresh challenges for `request`: the accepted offers', or every offer's when the client accepts
 * none (an answer on a priced route always carries at least one challenge).
 */
export function challengesFor(options: {
  challenges: ChallengeIssuer
  route: Route
  request: Pick<GateRequest, 'method' | 'acceptPayment'>
  now: number
  /** Issues the session challenge itself (e.g. with a session snapshot). */
  session?: (() => IssuedChallenge) | undefined
}): IssuedChallenge[] {
  const { challenges, route, request, now } = options
  const accepted = negotiate(request, route)
  const chosen = accepted.length > 0 ? accepted : offersFor(request, route)
  return chosen.map((offer) =>
    offer.name === 'session' && options.session
      ? options.session()
      : challenges.issue(route, now, { offer: offer.name }),
  )
}

/** The `406` for a client that accepts none of the route's offers. */
export function unacceptable(request: Pick<GateRequest, 'method'>, route: Route): GatewayError {
  const offered = [...new Set(offersFor(request, route).map((o) => `${o.method}/${o.intent}`))]
  return new GatewayError(
    'payment-method-unacceptable',
    'This route takes none of the payment methods the Accept-Payment header accepts.',
    { details: { offered: offered.join(', ') } },
  )
}

/**
 * The offer an echoed challenge was issued for: by method and intent, and for `tempo/charge` by
 * amount — recovery's is zero and answered with a proof, a priced charge's is the route's price.
 * (The challenge itself is verified against that offer's request afterwards.)
 */
export function offerOf(echoed: {
  method: string
  intent: string
  requestJson: unknown
}): OfferName | undefined {
  return offerOfEchoed(echoed)
}
