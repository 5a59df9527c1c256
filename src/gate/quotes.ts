/**
 * Quotes outstanding across a reload. A challenge is the gateway's signed offer — this route, this
 * price, until `expires` — and a client that accepted it has signed a voucher for exactly that
 * price. When a reload changes a route's price, the challenges issued before it stay payable at
 * their own price until they expire (at most `server.challengeTtlSeconds`), on the route of the
 * same method and path, as long as it is still priced:
 *
 * - a payer whose spending policy approved the quoted price is never charged another one for
 *   a voucher it signed against that quote — not more after a rise, and the amount its client
 *   counted after a cut (mppx raises its voucher by exactly the challenge's amount);
 * - the next 402 states the new price; every challenge issued from the reload on is held to it.
 *
 * A route removed, made free, or given another method or path by the reload does not honour
 * earlier quotes: its credential meets the current configuration (404, free, or a fresh 402).
 * Only the payment terms come from the earlier configuration (price, charge policy, served
 * statuses); where and how the request is forwarded is the current configuration's.
 */
import type { ChallengeIssuer } from '../pricing/challenges.js'
import type { Route, RouteTable } from '../pricing/route-table.js'
import type { EchoedChallenge } from '../protocol/credential.js'

/** The challenges of a configuration that a reload replaced, payable until `until` (ms). */
export type EarlierTerms = {
  readonly routes: RouteTable
  readonly challenges: ChallengeIssuer
  readonly until: number
}

/** The earlier route (and its issuer) whose terms a credential's challenge states. */
export type Quote = { readonly route: Route; readonly challenges: ChallengeIssuer }

export type QuoteBook = {
  /** The earlier terms `echoed` was issued under for the route now at `current`'s method and path. */
  quoteFor(current: Route, echoed: EchoedChallenge, now: number): Quote | undefined
  /**
   * The current priced route whose earlier terms `echoed` states (where a management credential
   * posted to another path belongs).
   */
  ownerOf(echoed: EchoedChallenge, routes: RouteTable, now: number): Route | undefined
}

const sameRoute = (a: Route, b: Route) => a.method === b.method && a.path === b.path

export function createQuoteBook(earlier: readonly EarlierTerms[]): QuoteBook {
  const live = (now: number) => earlier.filter((terms) => terms.until > now)
  return {
    quoteFor(current, echoed, now) {
      for (const terms of live(now)) {
        const route = terms.routes.routes.find((r) => sameRoute(r, current))
        if (route?.price === undefined) continue
        try {
          terms.challenges.verify(route, echoed, now)
          return { route, challenges: terms.challenges }
        } catch {
          // Not this configuration's challenge; an older one may have issued it.
        }
      }
      return undefined
    },
    ownerOf(echoed, routes, now) {
      for (const terms of live(now)) {
        const route = terms.challenges.routeFor(echoed)
        const current = route && routes.routes.find((r) => sameRoute(r, route))
        if (current?.price !== undefined) return current
      }
      return undefined
    },
  }
}

/** No earlier configuration: every credential meets the current terms. */
export const noQuotes: QuoteBook = createQuoteBook([])
