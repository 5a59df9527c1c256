/**
 * Stating a route's price as an MPP challenge, and checking that an echoed challenge is one this
 * gateway issued for this route and that it is still valid.
 *
 * Each priced route's challenge `request` (amount, currency, recipient, chain, escrow, …) is
 * constant, so it is canonicalized and encoded once at boot; issuing a challenge is then one HMAC
 * over a short string. Verification recomputes the HMAC over the echoed fields (with the current
 * or a previous secret), requires an unexpired `expires`, and pins the echoed request to the
 * route's own: a credential for another price, currency, recipient, chain or escrow is refused
 * even when its HMAC is valid.
 */
import { timingSafeEqual } from 'node:crypto'
import { zeroAddress } from 'viem'
import { GatewayError } from '../errors.js'
import type { EchoedChallenge } from '../protocol/credential.js'
import {
  challengeMac,
  encodeChallengeRequest,
  formatChallenge,
  issueChallenge,
  verifyChallengeId,
  type Challenge,
} from '../protocol/challenge.js'
import { canonicalize } from '../protocol/jcs.js'
import type { Route } from './route-table.js'
import type { Terms } from './terms.js'

export type IssuedChallenge = { readonly challenge: Challenge; readonly header: string }

export type ChallengeIssuer = {
  /** A fresh challenge for a priced route. */
  issue(route: Route, now: number): IssuedChallenge
  /** Throws `invalid-challenge` or `payment-expired` unless `echoed` is valid for `route`. */
  verify(route: Route, echoed: EchoedChallenge, now: number): void
  /**
   * A priced route whose terms the echoed challenge states (it still has to `verify`): where a
   * management credential posted to another path belongs. `preferred` wins when it qualifies.
   */
  routeFor(echoed: EchoedChallenge, preferred?: Route): Route | undefined
}

/** The session `request` object a priced route advertises (JCS orders the keys on the wire). */
export function sessionRequest(terms: Terms, route: Route): Record<string, unknown> {
  if (route.price === undefined) throw new Error(`route ${route.index} is free`)
  return {
    amount: route.price.toString(),
    currency: terms.currency,
    recipient: terms.recipient,
    suggestedDeposit: terms.suggestedDeposit.toString(),
    unitType: route.unitType,
    methodDetails: {
      chainId: terms.chainId,
      escrowContract: terms.escrow,
      sessionProtocol: 'v2',
      feeToken: terms.feeToken,
      ...(terms.operator !== zeroAddress ? { operator: terms.operator } : {}),
      ...(terms.minVoucherDelta > 0n ? { minVoucherDelta: terms.minVoucherDelta.toString() } : {}),
    },
  }
}

export function createChallengeIssuer(options: {
  terms: Terms
  routes: readonly Route[]
  /** Current secret first, then previous ones still accepted during rotation. */
  keys: readonly Buffer[]
}): ChallengeIssuer {
  const { terms, keys } = options
  const current = keys[0]
  if (!current) throw new Error('a challenge secret is required')
  const requests = new Map<number, string>()
  for (const route of options.routes) {
    if (route.price !== undefined)
      requests.set(route.index, encodeChallengeRequest(sessionRequest(terms, route)))
  }
  const canonicalOf = (echoed: EchoedChallenge): string | undefined => {
    try {
      return encodeChallengeRequest(
        JSON.parse(canonicalize(echoed.requestJson)) as Record<string, unknown>,
      )
    } catch {
      return undefined
    }
  }
  const requestOf = (route: Route) => {
    const request = requests.get(route.index)
    if (request === undefined) throw new Error(`route ${route.index} has no challenge`)
    return request
  }

  /**
   * The HMAC check. An echo of our own challenge carries the route's request string byte for
   * byte, so the MAC is recomputed over that string directly; anything else goes through the
   * general check, which re-canonicalizes the echoed JSON first.
   */
  const bound = (echoed: EchoedChallenge, expected: string): boolean => {
    if (echoed.request !== expected || echoed.opaque !== undefined) {
      return verifyChallengeId({ keys, challenge: echoed })
    }
    const claimed = Buffer.from(echoed.id, 'utf8')
    return keys.some((key) => {
      const mac = Buffer.from(challengeMac(key, echoed), 'utf8')
      return mac.length === claimed.length && timingSafeEqual(mac, claimed)
    })
  }

  return {
    issue(route, now) {
      const challenge = issueChallenge({
        key: current,
        fields: {
          realm: terms.realm,
          method: 'tempo',
          intent: 'session',
          request: requestOf(route),
          expires: new Date(now + terms.challengeTtlMs).toISOString(),
          ...(route.description ? { description: route.description } : {}),
        },
      })
      return { challenge, header: formatChallenge(challenge) }
    },

    verify(route, echoed, now) {
      const invalid = (detail: string) => new GatewayError('invalid-challenge', detail)
      if (!bound(echoed, requestOf(route))) {
        throw invalid('The challenge was not issued by this gateway or was altered.')
      }
      if (
        echoed.realm !== terms.realm ||
        echoed.method !== 'tempo' ||
        echoed.intent !== 'session'
      ) {
        throw invalid('The challenge is for another realm, method or intent.')
      }
      const expected = requestOf(route)
      if (echoed.request !== expected) {
        if (canonicalOf(echoed) !== expected) {
          throw invalid('The challenge was issued for other payment terms than this route has.')
        }
      }
      if (echoed.expires === undefined) throw invalid('The challenge has no expiry.')
      const expires = Date.parse(echoed.expires)
      if (Number.isNaN(expires)) throw invalid('The challenge expiry is malformed.')
      if (expires <= now) {
        throw new GatewayError('payment-expired', 'The challenge has expired.', {
          details: { expires: echoed.expires },
        })
      }
    },

    routeFor(echoed, preferred) {
      const priced = options.routes.filter((r) => requests.has(r.index))
      if (preferred) priced.sort((a, b) => Number(b === preferred) - Number(a === preferred))
      const exact = priced.find((r) => requestOf(r) === echoed.request)
      if (exact) return exact
      const canonical = canonicalOf(echoed)
      return priced.find((r) => requestOf(r) === canonical)
    },
  }
}
