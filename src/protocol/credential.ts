/**
 * Parsing of the `Authorization: Payment <b64url(JSON)>` credential (protocol.md §1.3).
 *
 * The credential is `{challenge, source?, payload}`: the echoed challenge (with `request` as its
 * base64url string), an optional payer DID and the method's payload. This module checks shape
 * only; the challenge id, expiry, route pinning and the payload itself are verified downstream.
 *
 * Invariants:
 * - No `Payment` credential at all (absent header, or only other schemes such as Bearer) is
 *   `undefined`, the "ask for payment" case. Anything that tries to be a Payment credential and
 *   is not a well-formed one throws `GatewayError('malformed-credential')`, never another error.
 * - Which item of the `Authorization` fields is the credential follows protocol/authorization.ts,
 *   the rule the upstream header filter shares: a Payment credential beside any other credential
 *   throws `GatewayError('multiple-credentials')`.
 * - Error messages name the failing check only; they never quote the credential, which is a
 *   bearer instrument worth money.
 * - The echoed `request` is kept both as the wire string and decoded (`requestJson`, always a
 *   JSON object); mppx's legacy object-valued `opaque` is normalized to `b64url(JCS(opaque))`.
 * - Input is bounded (`maxBytes`, 16 KiB by default) before any decoding work.
 * - A credential parsed before is not parsed again: the last {@link parsedCacheSize} well-formed
 *   items are kept by their exact text, frozen, and the same object is handed out again (a client
 *   that re-sends one voucher sends the same bytes every time; issue 10 measured the parse at a
 *   tenth of such a request's CPU). Only parsing is skipped: every check downstream — the MAC,
 *   the expiry, the voucher against the ledger — runs on every request.
 */
import { GatewayError } from '../errors.js'
import { paymentAuthorization } from './authorization.js'
import { decodeBase64urlJson, encodeBase64url } from './base64url.js'
import type { Challenge } from './challenge.js'
import { canonicalize } from './jcs.js'
import { deepFreeze } from '../config/deep-freeze.js'

/** A challenge as echoed in a credential, with its `request` also decoded. */
export type EchoedChallenge = Challenge & { requestJson: unknown }

/** A parsed `Authorization: Payment` credential. */
export type Credential = {
  challenge: EchoedChallenge
  /** Payer identity, for Tempo `did:pkh:eip155:<chainId>:<address>`. */
  source?: string
  /** Method-specific payload; always a JSON object. */
  payload: unknown
}

const defaultMaxBytes = 16 * 1024
/** Well-formed credentials kept by their exact text (at most 16 KiB each: 16 MiB at worst). */
export const parsedCacheSize = 1024
const parsed = new Map<string, Credential>()
const methodName = /^[a-z][a-z0-9:_-]*$/
const requiredFields = ['id', 'realm', 'method', 'intent', 'request'] as const
const optionalFields = ['description', 'digest', 'expires', 'header'] as const

/**
 * Parses the `Authorization` field values of a request (every line, in order; a single value is
 * one line) into its Payment credential.
 *
 * @returns `undefined` when there is no Payment credential at all.
 * @throws GatewayError `multiple-credentials` when a Payment credential is not alone,
 *   `malformed-credential` for anything malformed or oversize.
 */
export function parseAuthorization(
  authorization: string | readonly string[] | undefined,
  options: { maxBytes?: number } = {},
): Credential | undefined {
  if (authorization === undefined) return undefined
  const found = paymentAuthorization(
    typeof authorization === 'string' ? [authorization] : authorization,
  )
  switch (found.kind) {
    case 'none':
      return undefined
    case 'ambiguous':
      throw multipleCredentials()
    case 'payment': {
      const maxBytes = options.maxBytes ?? defaultMaxBytes
      const seen = found.item.length <= maxBytes ? parsed.get(found.item) : undefined
      if (seen) return seen
      const credential = deepFreeze(parseItem(found.item, maxBytes)) as Credential
      if (parsed.size >= parsedCacheSize) parsed.delete(parsed.keys().next().value!)
      parsed.set(found.item, credential)
      return credential
    }
  }
}

/** The error for a Payment credential that arrived beside another credential. */
export function multipleCredentials(): GatewayError {
  return new GatewayError(
    'multiple-credentials',
    'The Authorization header must hold the Payment credential alone.',
  )
}

function parseItem(item: string, maxBytes: number): Credential {
  const token = item.slice('payment'.length).trim()
  if (token === '') throw malformed('Payment credential is empty.')
  if (token.length > maxBytes) {
    throw malformed('Payment credential is too large.')
  }
  if (/\s/.test(token)) throw malformed('Payment credential must be a single token.')

  let decoded: unknown
  try {
    decoded = decodeBase64urlJson(token)
  } catch {
    // No cause: JSON.parse messages quote the input, and the input is the credential.
    throw malformed('Payment credential is not base64url JSON.')
  }
  if (!isRecord(decoded)) throw malformed('Payment credential must be a JSON object.')
  const challenge = own(decoded, 'challenge')
  if (!isRecord(challenge)) throw malformed('Credential challenge must be an object.')
  const payload = own(decoded, 'payload')
  if (!isRecord(payload)) throw malformed('Credential payload must be an object.')
  const source = own(decoded, 'source')
  if (source !== undefined && typeof source !== 'string') {
    throw malformed('Credential source must be a string.')
  }
  const echoed = parseEchoedChallenge(challenge)
  return source === undefined
    ? { challenge: echoed, payload }
    : { challenge: echoed, source, payload }
}

function parseEchoedChallenge(raw: Record<string, unknown>): EchoedChallenge {
  for (const name of requiredFields) {
    if (typeof own(raw, name) !== 'string') {
      throw malformed(`Credential challenge field "${name}" must be a string.`)
    }
  }
  for (const name of optionalFields) {
    const value = own(raw, name)
    if (value !== undefined && typeof value !== 'string') {
      throw malformed(`Credential challenge field "${name}" must be a string.`)
    }
  }
  const id = own(raw, 'id') as string
  const method = own(raw, 'method') as string
  const request = own(raw, 'request') as string
  if (id === '') throw malformed('Credential challenge id is empty.')
  if (!methodName.test(method)) throw malformed('Credential challenge method is invalid.')

  let requestJson: unknown
  try {
    requestJson = decodeBase64urlJson(request)
  } catch {
    throw malformed('Credential challenge request is not base64url JSON.')
  }
  if (!isRecord(requestJson)) throw malformed('Credential challenge request must be an object.')

  const challenge: EchoedChallenge = {
    id,
    realm: own(raw, 'realm') as string,
    method,
    intent: own(raw, 'intent') as string,
    request,
    requestJson,
  }
  const description = own(raw, 'description')
  const digest = own(raw, 'digest')
  const expires = own(raw, 'expires')
  const header = own(raw, 'header')
  const opaque = parseOpaque(own(raw, 'opaque'))
  if (typeof description === 'string') challenge.description = description
  if (typeof digest === 'string') challenge.digest = digest
  if (typeof expires === 'string') challenge.expires = expires
  if (typeof header === 'string') challenge.header = header
  if (opaque !== undefined) challenge.opaque = opaque
  return challenge
}

/**
 * `opaque` is a base64url string; older mppx clients echo it expanded as a flat string→string
 * object, which is re-encoded to the string the server issued (b64url of its JCS form).
 */
function parseOpaque(value: unknown): string | undefined {
  if (value === undefined || typeof value === 'string') return value
  if (isRecord(value) && Object.values(value).every((entry) => typeof entry === 'string')) {
    return encodeBase64url(canonicalize(value))
  }
  throw malformed('Credential challenge opaque must be a string or a string map.')
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Reads an own property only: JSON can carry `__proto__`, and inherited names are not fields. */
function own(record: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(record, name) ? record[name] : undefined
}

function malformed(message: string): GatewayError {
  return new GatewayError('malformed-credential', message)
}
