/**
 * Which challenges a request for a priced route gets: the route's offers for this request, in the
 * server's order, narrowed and reordered by the client's `Accept-Payment` (protocol/accept-payment.ts).
 *
 * The offers of a request:
 *  - the Tempo session, always;
 *  - session recovery (a zero-amount `tempo/charge` the client answers with a signed proof of its
 *    account, gate/recovery.ts) on a `HEAD`: mppx 0.11's session manager asks for it with a `HEAD`
 *    carrying `Accept-Payment: tempo/charge` before it opens a new channel. A `HEAD` buys nothing,
 *    so this offer never competes with a payment.
 * A one-shot charge, when one is added, is one more entry here (after recovery on a `HEAD`, since
 * mppx's bootstrap takes the first `tempo/charge` challenge it finds).
 *
 * When the client accepts none of the offers the request is answered `406
 * payment-method-unacceptable` (with every offer's challenge, so the client sees what it could
 * pay with); an answer that must carry a challenge anyway (a problem on a priced route) falls back
 * to every offer.
 */
import { GatewayError } from '../errors.js'
import type { ChallengeIssuer, IssuedChallenge, Offer, OfferName } from '../pricing/challenges.js'
import { offers } from '../pricing/challenges.js'
import type { Route } from '../pricing/route-table.js'
import { acceptedOffers, parseAcceptPayment } from '../protocol/accept-payment.js'
import type { GateRequest } from './request.js'

/** The offers of a request for a priced route, in the server's order (see the module header). */
export function offersFor(request: Pick<GateRequest, 'method'>): Offer[] {
  return request.method === 'HEAD' ? [offers.session, offers.recovery] : [offers.session]
}

/** The offers the client accepts, most preferred first; empty when it accepts none. */
export function negotiate(request: Pick<GateRequest, 'method' | 'acceptPayment'>): Offer[] {
  return acceptedOffers(offersFor(request), parseAcceptPayment(request.acceptPayment))
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
  const accepted = negotiate(request)
  const chosen = accepted.length > 0 ? accepted : offersFor(request)
  return chosen.map((offer) =>
    offer.name === 'session' && options.session
      ? options.session()
      : challenges.issue(route, now, { offer: offer.name }),
  )
}

/** The `406` for a client that accepts none of the route's offers. */
export function unacceptable(request: Pick<GateRequest, 'method'>): GatewayError {
  const offered = offersFor(request).map((o) => `${o.method}/${o.intent}`)
  return new GatewayError(
    'payment-method-unacceptable',
    'This route takes none of the payment methods the Accept-Payment header accepts.',
    { details: { offered: offered.join(', ') } },
  )
}

/**
 * The offer an echoed challenge was issued for, by its method and intent. (Today the only
 * `tempo/charge` is recovery's zero amount; a priced one-shot charge would be told apart by its
 * amount here.)
 */
export function offerOf(echoed: { method: string; intent: string }): OfferName | undefined {
  for (const offer of Object.values(offers)) {
    if (offer.method === echoed.method && offer.intent === echoed.intent) return offer.name
  }
  return undefined
}
