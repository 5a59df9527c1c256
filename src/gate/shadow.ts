/**
 * Shadow mode (`shadow: true` on a priced route, or `server.shadow` for all of them): a request
 * without a Payment credential is forwarded as if the route were free, so an operator can put
 * the gateway in front of existing customers before enforcing payment. Nothing is reserved,
 * charged or recorded in the ledger; the answer tells the client what the request would have
 * cost, and the access line and the metrics record what it would have been charged.
 *
 * `Payment-Shadow-Price` carries the route's terms as auth-params, like a challenge's `request`
 * would state them: `amount` in base units of `currency`, per `unitType`. It is on every answer
 * to a shadow request (the upstream's and the gateway's own).
 *
 * "Would have been charged" follows the route's charge policy exactly as a paid request would
 * (gate/charge.ts): under `on-success` only a served upstream status; under `always` every
 * forwarded request, with or without an upstream head.
 *
 * A request that carries a credential is handled as in enforce mode (a client that pays is never
 * refused its payment, and its channel, top-ups and close keep working).
 */
import type { Address } from 'viem'
import type { Route } from '../pricing/route-table.js'

/** The response header of shadow requests. */
export const shadowPriceHeader = 'payment-shadow-price'

/** The `Payment-Shadow-Price` value for a priced route. */
export function shadowPrice(route: Route, currency: Address): string {
  if (route.price === undefined) throw new Error(`route ${route.index} is free`)
  return `amount="${route.price}", currency="${currency}", unitType="${route.unitType}"`
}

/**
 * What a shadow request would have been charged, in base units: `upstreamStatus` is the upstream
 * head's status, or undefined when the exchange ended without one.
 */
export function shadowCharge(route: Route, upstreamStatus: number | undefined): bigint {
  const price = route.price ?? 0n
  if (route.charge === 'always') return price
  return upstreamStatus !== undefined && route.served(upstreamStatus) ? price : 0n
}
