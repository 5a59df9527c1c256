/**
 * Stating a route's price as MPP challenges, and checking that an echoed challenge is one this
 * gateway issued for this route and that it is still valid.
 *
 * A priced route is offered in one or more ways (offers): the Tempo session; the one-shot Tempo
 * charge of the route's price (when the route offers it, charge-intent/); and, on a request
 * without content, the zero-amount `tempo/charge` of session recovery, with which a client that
 * lost its local state proves who it is and learns its open channel (gate/recovery.ts).
 * Recovery and the priced charge share method and intent: their amounts tell them apart
 * (`offerOfEchoed`), and each is verified against its own constant request.
 *
 * Each offer's challenge `request` is constant per route (amount, currency, recipient, chain,
 * escrow, …), so it is canonicalized and encoded once at boot; issuing a challenge is then one
 * HMAC over a short string. Verification recomputes the HMAC over the echoed fields (with the
 * current or a previous secret), requires an unexpired `expires`, and pins the echoed challenge
 * to the route's own: a credential for another price, currency, recipient, chain, escrow or
 * credential header is refused even when its HMAC is valid.
 *
 * A session challenge may also carry the payer's channel as `methodDetails.sessionSnapshot`
 * (answers that refuse a voucher for lack of value, see gate/gate.ts): its `request` then varies
 * per channel. It is still HMAC-bound, and verification pins everything but the snapshot to the
 * route's constant request, so a snapshot never changes the terms a credential is held to.
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

/** The ways a route can be answered with a challenge. */
export type OfferName = 'session' | 'charge' | 'recovery'

/** One way of paying (or, for recovery, of identifying oneself) that a challenge states. */
export type Offer = { readonly name: OfferName; readonly method: string; readonly intent: string }

export const offers = {
  session: { name: 'session', method: 'tempo', intent: 'session' },
  charge: { name: 'charge', method: 'tempo', intent: 'charge' },
  recovery: { name: 'recovery', method: 'tempo', intent: 'charge' },
} as const satisfies Record<OfferName, Offer>

export type IssuedChallenge = {
  readonly offer: Offer
  readonly challenge: Challenge
  readonly header: string
}

export type ChallengeIssuer = {
  /**
   * A fresh challenge of `offer` (default: the session) for a priced route; a session challenge
   * carries `snapshot` as `methodDetails.sessionSnapshot` when one is given.
   */
  issue(
    route: Route,
    now: number,
    options?: { offer?: OfferName; snapshot?: Readonly<Record<string, unknown>> },
  ): IssuedChallenge
  /**
   * Throws `invalid-challenge` or `payment-expired` unless `echoed` is a valid challenge of
   * `offer` (default: the session) for `route`.
   */
  verify(route: Route, echoed: EchoedChallenge, now: number, offer?: OfferName): void
  /**
   * A priced route whose session terms (and credential header) the echoed challenge states (it
   * still has to `verify`): where a management credential posted to another path belongs.
   * `preferred` wins when it qualifies.
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

/**
 * The `request` of a route's one-shot charge: its price as one TIP-20 transfer to the payee, in
 * the shape mppx 0.11's `tempo.charge` server states it (no memo: the client then binds its
 * transfer to the challenge with an attribution memo, charge-intent/memo.ts). `supportedModes`
 * only when the gateway takes fewer than both (mppx clients assume both when it is absent).
 */
export function chargeRequest(terms: Terms, route: Route): Record<string, unknown> {
  if (route.price === undefined) throw new Error(`route ${route.index} is free`)
  const modes = terms.chargeModes
  return {
    amount: route.price.toString(),
    currency: terms.currency,
    recipient: terms.recipient,
    methodDetails: {
      chainId: terms.chainId,
      ...(modes !== undefined && modes.length < 2 ? { supportedModes: [...modes] } : {}),
    },
  }
}

/**
 * The offer an echoed `tempo` challenge belongs to, by its intent and — for `charge`, which
 * recovery shares — its amount: zero is recovery's proof, anything else a payment. `undefined`
 * for any other method or intent.
 */
export function offerOfEchoed(echoed: {
  method: string
  intent: string
  requestJson: unknown
}): OfferName | undefined {
  if (echoed.method !== 'tempo') return undefined
  if (echoed.intent === 'session') return 'session'
  if (echoed.intent !== 'charge') return undefined
  const amount = isRecord(echoed.requestJson) ? echoed.requestJson.amount : undefined
  return amount === '0' ? 'recovery' : 'charge'
}

/**
 * The `request` of the recovery challenge: a `tempo/charge` of zero (nothing is paid; the client
 * answers with a signed proof of its account), in the shape mppx 0.11's bootstrap uses.
 */
export function recoveryRequest(terms: Terms): Record<string, unknown> {
  return {
    amount: '0',
    currency: terms.currency,
    recipient: terms.recipient,
    methodDetails: { chainId: terms.chainId },
  }
}

/** The credential header a route's challenges name, lower-cased; `undefined` for Authorization. */
function headerOf(header: string | undefined): string | undefined {
  const lower = header?.toLowerCase()
  return lower === undefined || lower === 'authorization' ? undefined : lower
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
  const chargeRequests = new Map<number, string>()
  for (const route of options.routes) {
    if (route.price === undefined) continue
    requests.set(route.index, encodeChallengeRequest(sessionRequest(terms, route)))
    if (route.intents?.includes('charge')) {
      chargeRequests.set(route.index, encodeChallengeRequest(chargeRequest(terms, route)))
    }
  }
  const recovery = encodeChallengeRequest(recoveryRequest(terms))
  const canonicalOf = (json: unknown): string | undefined => {
    try {
      return encodeChallengeRequest(JSON.parse(canonicalize(json)) as Record<string, unknown>)
    } catch {
      return undefined
    }
  }
  const requestOf = (route: Route) => {
    const request = requests.get(route.index)
    if (request === undefined) throw new Error(`route ${route.index} has no challenge`)
    return request
  }
  /** The constant request of `offer` on `route`; `undefined` when the route does not offer it. */
  const offerRequest = (route: Route, offer: OfferName): string | undefined => {
    switch (offer) {
      case 'session':
        return requestOf(route)
      case 'charge':
        return chargeRequests.get(route.index)
      case 'recovery':
        return recovery
    }
  }

  /**
   * The HMAC check. An echo of our own challenge carries the route's request string byte for
   * byte, so the MAC is recomputed over that string directly; anything else goes through the
   * general check, which re-canonicalizes the echoed JSON first.
   */
  const bound = (echoed: EchoedChallenge, expected: string): boolean => {
    // A credential parsed before is the same frozen object (protocol/credential.ts): its MAC,
    // checked once under these keys, is not computed again. Only a match is remembered.
    if (verified.has(echoed)) return true
    const ok = macMatches(echoed, expected)
    if (ok) verified.add(echoed)
    return ok
  }
  const verified = new WeakSet<EchoedChallenge>()
  const macMatches = (echoed: EchoedChallenge, expected: string): boolean => {
    if (echoed.request !== expected || echoed.opaque !== undefined) {
      return verifyChallengeId({ keys, challenge: echoed })
    }
    const claimed = Buffer.from(echoed.id, 'utf8')
    return keys.some((key) => {
      const mac = Buffer.from(challengeMac(key, echoed), 'utf8')
      return mac.length === claimed.length && timingSafeEqual(mac, claimed)
    })
  }

  /** Whether the echoed request is `expected`, up to encoding (and a session snapshot). */
  const statesRequest = (echoed: EchoedChallenge, expected: string, offer: OfferName) => {
    if (echoed.request === expected || canonicalOf(echoed.requestJson) === expected) return true
    return offer === 'session' && canonicalOf(withoutSnapshot(echoed.requestJson)) === expected
  }

  return {
    issue(route, now, issueOptions = {}) {
      const offer = offers[issueOptions.offer ?? 'session']
      const { snapshot } = issueOptions
      let request: string | undefined
      if (offer.name !== 'session' || snapshot === undefined)
        request = offerRequest(route, offer.name)
      else request = encodeChallengeRequest(withSnapshot(sessionRequest(terms, route), snapshot))
      if (request === undefined)
        throw new Error(`route ${route.index} does not offer ${offer.name}`)
      const challenge = issueChallenge({
        key: current,
        fields: {
          realm: terms.realm,
          method: offer.method,
          intent: offer.intent,
          request,
          expires: new Date(now + terms.challengeTtlMs).toISOString(),
          ...(route.description && offer.name !== 'recovery'
            ? { description: route.description }
            : {}),
          ...(route.credentialHeader ? { header: route.credentialHeader } : {}),
        },
      })
      return { offer, challenge, header: formatChallenge(challenge) }
    },

    verify(route, echoed, now, offerName = 'session') {
      const offer = offers[offerName]
      const invalid = (detail: string) => new GatewayError('invalid-challenge', detail)
      const expected = offerRequest(route, offer.name)
      if (expected === undefined) {
        throw invalid('This route is not paid with a one-shot charge.')
      }
      if (!bound(echoed, expected)) {
        throw invalid('The challenge was not issued by this gateway or was altered.')
      }
      if (
        echoed.realm !== terms.realm ||
        echoed.method !== offer.method ||
        echoed.intent !== offer.intent
      ) {
        throw invalid('The challenge is for another realm, method or intent.')
      }
      if (!statesRequest(echoed, expected, offer.name)) {
        throw invalid('The challenge was issued for other payment terms than this route has.')
      }
      if (headerOf(echoed.header) !== headerOf(route.credentialHeader)) {
        throw invalid('The challenge names another credential header than this route takes.')
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
      const header = headerOf(echoed.header)
      const priced = options.routes.filter(
        (r) => requests.has(r.index) && headerOf(r.credentialHeader) === header,
      )
      if (preferred) priced.sort((a, b) => Number(b === preferred) - Number(a === preferred))
      const exact = priced.find((r) => requestOf(r) === echoed.request)
      if (exact) return exact
      const canonical = canonicalOf(echoed.requestJson)
      const found = priced.find((r) => requestOf(r) === canonical)
      if (found) return found
      const bare = canonicalOf(withoutSnapshot(echoed.requestJson))
      return priced.find((r) => requestOf(r) === bare)
    },
  }
}

/** A session request with `snapshot` as `methodDetails.sessionSnapshot`. */
function withSnapshot(
  request: Record<string, unknown>,
  snapshot: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const details = request.methodDetails as Record<string, unknown>
  return { ...request, methodDetails: { ...details, sessionSnapshot: snapshot } }
}

/** A decoded request without `methodDetails.sessionSnapshot` (anything else unchanged). */
function withoutSnapshot(json: unknown): unknown {
  if (!isRecord(json) || !isRecord(json.methodDetails)) return json
  if (!Object.hasOwn(json.methodDetails, 'sessionSnapshot')) return json
  const details: Record<string, unknown> = { ...json.methodDetails }
  delete details.sessionSnapshot
  return { ...json, methodDetails: details }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
