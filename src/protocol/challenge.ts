/**
 * Payment challenges and their HMAC id binding (protocol.md §1.1–1.2).
 *
 * A challenge id is `b64url_nopad(HMAC-SHA256(key, realm|method|intent|request|expires|digest|
 * opaque))`: seven slots, an absent field is the empty string, the key is the UTF-8 bytes of the
 * server secret. A challenge that names a credential header other than `Authorization` (the
 * `header` parameter, e.g. `Payment-Authorization`) binds it in an eighth slot just before
 * `opaque`, as mppx 0.11 does. Binding every field into the id keeps the gateway stateless: a
 * client can only echo back a challenge this gateway issued, unchanged, so no store of issued
 * challenges is needed (single use, where wanted, is the ledger's job).
 *
 * Invariants:
 * - The issuer MACs the strings exactly as given; `request` must already be `b64url(JCS(json))`
 *   (build it once per route with {@link encodeChallengeRequest}) so that the verifier, which
 *   re-canonicalizes like mppx, computes the same input.
 * - Issued slots never contain `|`, so the joined input splits back into the seven fields in one
 *   way only: an echoed challenge cannot move characters from one field to another.
 * - Verification recomputes the `request` and `opaque` slots as `b64url(JCS(decoded JSON))` and
 *   compares in constant time against every key (current and previous secrets, for rotation).
 *
 * Cost: issuing is one HMAC over a short string (no JSON work), because the gateway issues a
 * fresh challenge on every paid request: mppx clients always probe without a credential first.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { GatewayError } from '../errors.js'
import { formatPaymentChallenge, type AuthParam } from './auth-params.js'
import { decodeBase64urlJson, encodeBase64url } from './base64url.js'
import { canonicalize } from './jcs.js'

/** The fields a challenge id binds, plus the unbound `description`. */
export type ChallengeFields = {
  realm: string
  method: string
  intent: string
  /** `b64url_nopad(JCS(request JSON))`. */
  request: string
  /** RFC 3339 expiry. */
  expires?: string
  /** RFC 9530 digest of the request body the challenge is for. */
  digest?: string
  /** `b64url_nopad(JCS(flat string→string JSON))`, echoed verbatim by clients. */
  opaque?: string
  /**
   * The request header the credential is to be sent in, when not `Authorization` (an HTTP field
   * name such as `Payment-Authorization`). Bound into the id.
   */
  header?: string
  /** Display text only: not part of the id, never to be trusted. */
  description?: string
}

/** A challenge with its HMAC-bound id. */
export type Challenge = ChallengeFields & { id: string }

/** Returns the HMAC key for a secret string: its UTF-8 bytes, as mppx derives it. */
export function challengeKey(secret: string): Buffer {
  return Buffer.from(secret, 'utf8')
}

/**
 * Encodes a challenge request object as `b64url_nopad(JCS(request))`, the only form the issuer
 * may bind. Compute it once per route, not per request.
 *
 * @throws TypeError when the request is not representable as JSON.
 */
export function encodeChallengeRequest(request: Readonly<Record<string, unknown>>): string {
  return encodeBase64url(canonicalize(request))
}

/**
 * The challenge id over the fields exactly as given: the issuer's fast path.
 *
 * @returns `b64url_nopad(HMAC-SHA256(key, realm|method|intent|request|expires|digest|opaque))`.
 */
export function challengeMac(key: Buffer, fields: ChallengeFields): string {
  return hmac(key, bindingInput(fields, fields.request, fields.opaque))
}

/**
 * The challenge id as mppx recomputes it when verifying an echoed challenge: the `request` and
 * `opaque` slots become `b64url(JCS(decoded JSON))` first, so a non-canonical but equivalent
 * encoding still verifies. When `requestJson` is given (as in a parsed credential) it is used
 * instead of decoding `request` again, which binds the id to exactly the value callers read.
 *
 * @throws GatewayError `malformed-credential` when `request` or `opaque` is not base64url JSON.
 */
export function echoedChallengeMac(
  key: Buffer,
  fields: ChallengeFields & { requestJson?: unknown },
): string {
  return hmac(key, echoedBindingInput(fields))
}

/** Issues a challenge: the fields plus their HMAC id under the current key. */
export function issueChallenge(options: { key: Buffer; fields: ChallengeFields }): Challenge {
  const { key, fields } = options
  if (
    hasPipe(fields.realm) ||
    hasPipe(fields.method) ||
    hasPipe(fields.intent) ||
    hasPipe(fields.request) ||
    hasPipe(fields.expires) ||
    hasPipe(fields.digest) ||
    hasPipe(fields.opaque) ||
    hasPipe(fields.header)
  ) {
    throw new TypeError('A bound challenge field must not contain "|".')
  }
  // Copy field by field: a stray `id` (or anything else) on `fields` must never reach the wire.
  const challenge: Challenge = {
    id: challengeMac(key, fields),
    realm: fields.realm,
    method: fields.method,
    intent: fields.intent,
    request: fields.request,
  }
  if (fields.expires !== undefined) challenge.expires = fields.expires
  if (fields.digest !== undefined) challenge.digest = fields.digest
  if (fields.opaque !== undefined) challenge.opaque = fields.opaque
  if (fields.description !== undefined) challenge.description = fields.description
  if (namesHeader(fields.header)) challenge.header = fields.header
  return challenge
}

/**
 * Whether an echoed challenge's id is the MAC of its fields under any of the keys (current key
 * first, then previous ones kept until their challenges expire). Compared in constant time.
 * Expiry, route pinning and single use are separate checks.
 *
 * @throws GatewayError `malformed-credential` when `request` or `opaque` is not base64url JSON.
 */
export function verifyChallengeId(options: {
  keys: readonly Buffer[]
  challenge: Challenge & { requestJson?: unknown }
}): boolean {
  const { keys, challenge } = options
  const echoed = Buffer.from(challenge.id, 'utf8')
  const input = echoedBindingInput(challenge)
  for (const key of keys) {
    const expected = Buffer.from(hmac(key, input), 'utf8')
    if (echoed.length === expected.length && timingSafeEqual(echoed, expected)) return true
  }
  return false
}

/**
 * Formats a challenge as a `WWW-Authenticate` value, in mppx's parameter order: id, realm,
 * method, intent, request, description?, digest?, expires?, header?, opaque?.
 *
 * @throws Error when a value contains CR or LF.
 */
export function formatChallenge(challenge: Challenge): string {
  const params: AuthParam[] = [
    ['id', challenge.id],
    ['realm', challenge.realm],
    ['method', challenge.method],
    ['intent', challenge.intent],
    ['request', challenge.request],
  ]
  if (challenge.description !== undefined) params.push(['description', challenge.description])
  if (challenge.digest !== undefined) params.push(['digest', challenge.digest])
  if (challenge.expires !== undefined) params.push(['expires', challenge.expires])
  if (namesHeader(challenge.header)) params.push(['header', challenge.header])
  if (challenge.opaque !== undefined) params.push(['opaque', challenge.opaque])
  return formatPaymentChallenge(params)
}

function bindingInput(
  fields: ChallengeFields,
  request: string,
  opaque: string | undefined,
): string {
  const header = namesHeader(fields.header) ? `${fields.header}|` : ''
  return `${fields.realm}|${fields.method}|${fields.intent}|${request}|${fields.expires ?? ''}|${fields.digest ?? ''}|${header}${opaque ?? ''}`
}

/**
 * Whether a challenge names a credential header of its own. `Authorization` (any case) is the
 * default and, like an absent parameter, is neither sent nor bound.
 */
function namesHeader(header: string | undefined): header is string {
  return header !== undefined && header.toLowerCase() !== 'authorization'
}

function echoedBindingInput(fields: ChallengeFields & { requestJson?: unknown }): string {
  const request =
    'requestJson' in fields
      ? recanonicalize(fields.requestJson, 'request')
      : recanonicalize(decodeJsonSlot(fields.request, 'request'), 'request')
  const opaque =
    fields.opaque === undefined
      ? undefined
      : recanonicalize(decodeJsonSlot(fields.opaque, 'opaque'), 'opaque')
  return bindingInput(fields, request, opaque)
}

function decodeJsonSlot(value: string, name: 'request' | 'opaque'): unknown {
  try {
    return decodeBase64urlJson(value)
  } catch {
    // The decoder's message may quote the client's bytes: keep it out of the client answer.
    throw new GatewayError('malformed-credential', `Challenge ${name} is not base64url JSON.`)
  }
}

function recanonicalize(value: unknown, name: 'request' | 'opaque'): string {
  try {
    return encodeBase64url(canonicalize(value))
  } catch {
    throw new GatewayError('malformed-credential', `Challenge ${name} is not canonicalizable JSON.`)
  }
}

function hmac(key: Buffer, input: string): string {
  return createHmac('sha256', key).update(input, 'utf8').digest('base64url')
}

function hasPipe(value: string | undefined): boolean {
  return value !== undefined && value.includes('|')
}
