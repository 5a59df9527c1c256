/**
 * Header hygiene at the upstream boundary: what the upstream may see of a client's request, and
 * what the client may see of the upstream's answer. Pure functions, called on every request.
 *
 * Input/output shapes (chosen for speed, no intermediate objects):
 * - request side: Node's raw list `IncomingMessage.rawHeaders` (`[name, value, name, value, …]`,
 *   original casing, repeated headers kept) in, the same flat shape out — undici's `dispatch`
 *   accepts it as `headers` directly.
 * - response side: undici's parsed header object (lower-case names, a repeated header as an
 *   array) in, a plain object out that `ServerResponse.writeHead` accepts.
 *
 * Invariants:
 * - A client header name is judged with `_` read as `-` (and case ignored): many servers (CGI,
 *   WSGI, Rack, PHP) fold both into one variable, so `X_Api_Key` would otherwise override an
 *   injected `X-Api-Key`, and `X_Forwarded_For` would pass as a forwarding header. Every rule
 *   below applies to both spellings.
 * - Hop-by-hop headers never cross the gateway in either direction: Connection, Keep-Alive,
 *   Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade, HTTP2-Settings and every header the
 *   `Connection` header names. Transfer-Encoding is re-chosen by each hop; Content-Length is kept.
 * - The upstream never sees the client's payment headers: an `Authorization` line holding a
 *   Payment credential anywhere in it (protocol/authorization.ts; other schemes such as Bearer
 *   pass), Payment-Authorization, Payment-Session, Payment-Session-Snapshot, Accept-Payment, Payment-Receipt. Nor Host
 *   (undici sends the upstream's) nor Expect (the gateway answers `100-continue` itself; undici
 *   refuses the header).
 * - The upstream never sees a header that would make it serve another path or method than the
 *   one the gateway priced: X-Original-URL, X-Rewrite-URL, X-HTTP-Method-Override, X-HTTP-Method,
 *   X-Method-Override are always dropped, whoever sent them.
 * - The upstream's configured headers are applied last and replace every client header of the
 *   same name, so a client can never supply its own upstream API key.
 * - What the upstream learns about the client is the gateway's own observation (docs/DESIGN.md,
 *   "Forwarding headers"): X-Forwarded-For is the peer address, X-Forwarded-Proto the scheme the
 *   client used, X-Forwarded-Host its Host. Client-sent Forwarded, X-Real-IP, X-Client-IP,
 *   True-Client-IP and X-Forwarded-* are dropped — unless the peer is a trusted proxy
 *   (`server.trustedProxies`): then they pass, X-Forwarded-For is appended to, and the proxy's
 *   X-Forwarded-Proto and -Host are kept.
 * - X-Request-Id, when the gateway names the request, is the gateway's id (the client's own, if it
 *   sent one, or a fresh one), so the upstream's logs, the gateway's and the client agree.
 * - The client never sees a `Payment-Receipt` or a `Payment` challenge in `WWW-Authenticate` from
 *   the upstream: the gateway owns those. Other challenges in the same header survive.
 */
import { authItems, holdsPaymentCredential, isPaymentItem } from '../protocol/authorization.js'

/** What to do with a header name on either side of the gateway. */
type Rule =
  'drop' | 'connection' | 'authorization' | 'forwarding' | 'x-request-id' | 'content-length'

const hopByHop: readonly string[] = [
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]

const requestRules: ReadonlyMap<string, Rule> = new Map<string, Rule>([
  ...hopByHop.map((name): [string, Rule] => [name, 'drop']),
  ['connection', 'connection'],
  ['host', 'drop'],
  ['expect', 'drop'],
  ['payment-authorization', 'drop'],
  ['payment-session', 'drop'],
  ['payment-session-snapshot', 'drop'],
  ['accept-payment', 'drop'],
  ['payment-receipt', 'drop'],
  ['x-original-url', 'drop'],
  ['x-rewrite-url', 'drop'],
  ['x-http-method-override', 'drop'],
  ['x-http-method', 'drop'],
  ['x-method-override', 'drop'],
  ['forwarded', 'forwarding'],
  ['x-real-ip', 'forwarding'],
  ['x-client-ip', 'forwarding'],
  ['true-client-ip', 'forwarding'],
  ['x-request-id', 'x-request-id'],
  ['authorization', 'authorization'],
  ['content-length', 'content-length'],
])

/** Options of {@link forwardRequestHeaders}. */
export type ForwardRequestHeadersOptions = {
  /** The client's headers exactly as Node received them (`IncomingMessage.rawHeaders`). */
  readonly rawHeaders: readonly string[]
  /** The peer address (`socket.remoteAddress`) appended to X-Forwarded-For; `undefined` if gone. */
  readonly clientAddress: string | undefined
  /** The scheme the client used to reach the gateway, sent as X-Forwarded-Proto. */
  readonly proto: 'http' | 'https'
  /** The upstream's configured headers (secrets included); they replace same-named client ones. */
  readonly inject: Readonly<Record<string, string>>
  /** The gateway's id of this request, sent as X-Request-Id in place of the client's. */
  readonly requestId?: string
  /** The peer is a trusted proxy: its forwarding headers pass (X-Forwarded-For is appended to). */
  readonly trustedPeer?: boolean
}

/**
 * Builds the headers sent to the upstream from the client's raw headers, as a flat
 * `[name, value, …]` list (the shape undici accepts). See the module header for the rules.
 */
export function forwardRequestHeaders(options: ForwardRequestHeadersOptions): string[] {
  const { rawHeaders, clientAddress, proto, inject, requestId } = options
  const trusted = options.trustedPeer === true
  const injectKeys = Object.keys(inject)
  const injectNames = injectKeys.map(headerKey)

  const out: string[] = []
  let forwardedFor: string | undefined
  let forwardedProto: string | undefined
  let forwardedHost: string | undefined
  let host: string | undefined
  let connectionTokens: string[] | undefined
  let contentLengthSeen = false

  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    const value = rawHeaders[i + 1]!
    const key = headerKey(name)
    const rule =
      requestRules.get(key) ?? (key.startsWith('x-forwarded-') ? 'forwarding' : undefined)
    if (rule !== undefined) {
      switch (rule) {
        case 'drop':
          if (key === 'host' && host === undefined) host = value
          continue
        case 'connection':
          connectionTokens = collectTokens(value, connectionTokens)
          continue
        case 'forwarding':
          if (!trusted) continue
          if (key === 'x-forwarded-for') {
            forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`
            continue
          }
          if (key === 'x-forwarded-proto') {
            forwardedProto ??= value
            continue
          }
          if (key === 'x-forwarded-host') {
            forwardedHost ??= value
            continue
          }
          break
        case 'x-request-id':
          if (requestId !== undefined) continue
          break
        case 'authorization':
          if (holdsPaymentCredential(value)) continue
          break
        case 'content-length':
          if (contentLengthSeen) continue
          contentLengthSeen = true
          break
      }
    } else if (key.startsWith('proxy-')) {
      continue
    }
    if (injectNames.length > 0 && injectNames.includes(key)) continue
    out.push(name, value)
  }

  const filtered =
    connectionTokens === undefined
      ? out
      : withoutNames(out, new Set(connectionTokens.map(headerKey)))
  if (clientAddress !== undefined) {
    forwardedFor = forwardedFor === undefined ? clientAddress : `${forwardedFor}, ${clientAddress}`
  }
  appendUnlessInjected(filtered, injectNames, 'x-forwarded-for', forwardedFor)
  appendUnlessInjected(filtered, injectNames, 'x-forwarded-proto', forwardedProto ?? proto)
  appendUnlessInjected(filtered, injectNames, 'x-forwarded-host', forwardedHost ?? host)
  appendUnlessInjected(filtered, injectNames, 'x-request-id', requestId)
  for (const name of injectKeys) filtered.push(name, inject[name]!)
  return filtered
}

/** A request header name as the rules judge it: lower case, `_` read as `-`. */
function headerKey(name: string): string {
  const lower = name.toLowerCase()
  return lower.includes('_') ? lower.replaceAll('_', '-') : lower
}

/** A header value as undici parses it: one string, or one string per repeated header. */
export type UpstreamHeaderValue = string | string[] | undefined

/** Options of {@link responseHeaders}. */
export type ResponseHeadersOptions = {
  /** The upstream's response headers as undici parses them (lower-case names). */
  readonly upstream: Readonly<Record<string, UpstreamHeaderValue>>
  /** Headers the gateway adds (Payment-Receipt, Cache-Control, …); they replace upstream ones. */
  readonly extra: Readonly<Record<string, string>>
  /** Upstream headers meant for the gateway alone (a metered route's units), lower-case. */
  readonly hide?: readonly string[] | undefined
}

/**
 * Filters the upstream's response headers for the client and merges the gateway's own, as an
 * object for `ServerResponse.writeHead` (lower-case names; extra headers keep their casing).
 */
export function responseHeaders(
  options: ResponseHeadersOptions,
): Record<string, string | string[]> {
  const { upstream, extra } = options
  const out: Record<string, string | string[]> = {}
  let connectionTokens: string[] | undefined

  for (const name of Object.keys(upstream)) {
    const value = upstream[name]
    if (value === undefined) continue
    if (name === 'connection') {
      for (const one of typeof value === 'string' ? [value] : value) {
        connectionTokens = collectTokens(one, connectionTokens)
      }
      continue
    }
    if (name === 'payment-receipt' || hopByHop.includes(name) || name.startsWith('proxy-')) {
      continue
    }
    if (options.hide?.includes(name)) continue
    if (name === 'www-authenticate') {
      const kept = withoutPaymentChallenges(value)
      if (kept !== undefined) out[name] = kept
      continue
    }
    out[name] = value
  }

  if (connectionTokens !== undefined) {
    for (const token of connectionTokens) delete out[token]
  }
  for (const name of Object.keys(extra)) {
    const lower = name.toLowerCase()
    if (lower !== name) delete out[lower]
    out[name] = extra[name]!
  }
  return out
}

/** Adds the lower-cased, trimmed tokens of a `Connection` header value to `into`. */
function collectTokens(value: string, into: string[] | undefined): string[] {
  const tokens = into ?? []
  for (const token of value.split(',')) {
    const trimmed = token.trim().toLowerCase()
    if (trimmed !== '') tokens.push(trimmed)
  }
  return tokens
}

/** The flat list without the headers whose name (as a key) is in `names`. */
function withoutNames(flat: readonly string[], names: ReadonlySet<string>): string[] {
  const out: string[] = []
  for (let i = 0; i + 1 < flat.length; i += 2) {
    if (!names.has(headerKey(flat[i]!))) out.push(flat[i]!, flat[i + 1]!)
  }
  return out
}

function appendUnlessInjected(
  flat: string[],
  injectNames: readonly string[],
  name: string,
  value: string | undefined,
): void {
  if (value !== undefined && !injectNames.includes(name)) flat.push(name, value)
}

/**
 * `WWW-Authenticate` without its Payment challenges; `undefined` when nothing is left. The value
 * is split into challenges by the same rule as `Authorization` (protocol/authorization.ts).
 */
function withoutPaymentChallenges(value: string | string[]): string | string[] | undefined {
  if (typeof value !== 'string') {
    const kept: string[] = []
    for (const one of value) {
      const filtered = withoutPaymentChallengesIn(one)
      if (filtered !== undefined) kept.push(filtered)
    }
    return kept.length === 0 ? undefined : kept.length === 1 ? kept[0] : kept
  }
  return withoutPaymentChallengesIn(value)
}

function withoutPaymentChallengesIn(value: string): string | undefined {
  if (!/payment/i.test(value)) return value
  const kept = authItems(value).filter((item) => !isPaymentItem(item))
  return kept.length === 0 ? undefined : kept.join(', ')
}
