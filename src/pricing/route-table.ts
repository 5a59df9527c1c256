/**
 * The route table: which configured route an incoming request belongs to, and so what it costs.
 *
 * Routes are matched in configuration order, first match wins. Patterns are literal segments,
 * `:name` for exactly one segment, and a final `*` for the rest of the path. Paths that an
 * upstream might normalise into a different route — dot segments (`..;` too), encoded slashes,
 * dots or backslashes — match nothing, so a cheap route can never be used to reach a priced one.
 * The path matched is the decoded one (gate/target.ts); the upstream gets the client's raw bytes.
 *
 * A route may name another path on its upstream (`upstreamPath`, e.g. Dune's guide path
 * `/v1/execution/:execution_id/csv` served by `/v1/execution/:execution_id/results/csv`): its
 * `:param`s take the segments the request matched, a final `*` the rest. The upstream receives
 * only what was matched and priced, rearranged, each parameter percent-encoded; the query is the
 * caller's to append.
 */
import type { Metering } from './metered.js'
import type { RouteRates } from '../limits/limits.js'

export type ChargePolicy = 'on-success' | 'always'

/** A way a priced route may be paid: `session` (a payment channel) or `charge` (one-shot). */
export type RouteIntent = 'session' | 'charge'

/** One route as configured. */
export type RouteSpec = {
  readonly method: string
  readonly path: string
  readonly upstream: string
  /** Price per request in base units; `undefined` for a free route. */
  readonly price: bigint | undefined
  readonly unitType: string
  readonly description: string | undefined
  readonly charge: ChargePolicy
  /** Upstream statuses that count as served (charged) under `on-success`. */
  readonly servedStatuses: readonly (number | `${1 | 2 | 3 | 4 | 5}xx`)[]
  /**
   * Set when the route's upstream takes the client's own `Authorization`
   * (`clientAuthorization: passthrough`): challenges then ask for the credential in
   * `Payment-Authorization`. Absent: the credential comes in `Authorization`.
   */
  readonly credentialHeader?: 'Payment-Authorization'
  /** Path template requested from the upstream; absent: the request's own path. */
  readonly upstreamPath?: string | undefined
  /** Shadow mode: requests without a credential are forwarded unpaid (priced routes only). */
  readonly shadow?: boolean | undefined
  /** Price each answer from the answer, at most `price` (pricing/metered.ts). */
  readonly metered?: Metering | undefined
  /** How the route may be paid, in the order its challenges are offered; absent: session only. */
  readonly intents?: readonly RouteIntent[] | undefined
  /** Per-payer and per-channel rates of paid requests (limits/limits.ts); none when absent. */
  readonly rates?: RouteRates | undefined
}

export type Route = RouteSpec & {
  /** Position in the configuration (stable id for logs). */
  readonly index: number
  /** Whether an upstream status counts as served. */
  readonly served: (status: number) => boolean
  /** The path to request from the upstream for a request path this route matched (no query). */
  readonly upstreamPathFor: (requestPath: string) => string
}

export type RouteMatch = {
  readonly route: Route
  readonly params: Readonly<Record<string, string>>
}

export type RouteTable = {
  readonly routes: readonly Route[]
  /** The route for a method and path (path without query). */
  match(method: string, path: string): RouteMatch | undefined
  /** The first route whose path matches, whatever its method (where a management POST lands). */
  matchPath(path: string): RouteMatch | undefined
}

type Segment =
  { kind: 'literal'; value: string } | { kind: 'param'; name: string } | { kind: 'rest' }

function compilePattern(pattern: string): Segment[] {
  return pattern
    .split('/')
    .filter((s) => s.length > 0)
    .map((s): Segment => {
      if (s === '*') return { kind: 'rest' }
      if (s.startsWith(':')) return { kind: 'param', name: s.slice(1) }
      return { kind: 'literal', value: s }
    })
}

function servedPredicate(statuses: RouteSpec['servedStatuses']): (status: number) => boolean {
  const exact = new Set<number>()
  const classes = new Set<number>()
  for (const s of statuses) {
    if (typeof s === 'number') exact.add(s)
    else classes.add(Number(s[0]))
  }
  return (status) => exact.has(status) || classes.has(Math.floor(status / 100))
}

// A dot segment, also with a `;` parameter (`..;` is `..` to Tomcat and others), and the escapes of
// `.`, `/` and `\` that an upstream might decode once more.
const unsafePath = /(^|\/)\.{1,2}(;[^/]*)?(\/|$)|%2e|%2f|%5c|\\/i

/** Splits a request path into segments, or undefined when it is unsafe to route. */
function pathSegments(path: string): string[] | undefined {
  if (!path.startsWith('/') || unsafePath.test(path)) return undefined
  return path.split('/').filter((s) => s.length > 0)
}

/** What a pattern matched: its parameters, and the segments a final `*` took. */
type Matched = { readonly params: Record<string, string>; readonly rest: readonly string[] }

function matchSegments(
  pattern: readonly Segment[],
  segments: readonly string[],
): Matched | undefined {
  const params: Record<string, string> = {}
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!
    if (p.kind === 'rest') return { params, rest: segments.slice(i) }
    const s = segments[i]
    if (s === undefined) return undefined
    if (p.kind === 'literal') {
      if (p.value !== s) return undefined
    } else {
      params[p.name] = s
    }
  }
  return segments.length === pattern.length ? { params, rest: [] } : undefined
}

/**
 * The upstream path of a request, from its route's template: literal segments as written,
 * parameters and the rest as the request matched them (decoded), percent-encoded again.
 */
function upstreamPathOf(
  template: readonly Segment[] | undefined,
  pattern: readonly Segment[],
  requestPath: string,
): string {
  if (!template) return requestPath
  const segments = pathSegments(requestPath)
  const matched = segments && matchSegments(pattern, segments)
  // Only called for a path this route matched; anything else is a defect in the caller.
  if (!matched) throw new Error(`the path does not match the route it was admitted for`)
  const out = template.flatMap((segment) => {
    switch (segment.kind) {
      case 'literal':
        return [segment.value]
      case 'param':
        return [encodeURIComponent(matched.params[segment.name]!)]
      case 'rest':
        return matched.rest.map(encodeURIComponent)
    }
  })
  return `/${out.join('/')}`
}

/** A route's method admits a request's; HEAD is served by GET routes, as HTTP intends. */
function methodMatches(routeMethod: string, method: string): boolean {
  return (
    routeMethod === '*' || routeMethod === method || (method === 'HEAD' && routeMethod === 'GET')
  )
}

export function compileRoutes(specs: readonly RouteSpec[]): RouteTable {
  const compiled = specs.map((spec, index) => {
    const segments = compilePattern(spec.path)
    const template = spec.upstreamPath === undefined ? undefined : compilePattern(spec.upstreamPath)
    const route: Route = {
      ...spec,
      method: spec.method.toUpperCase(),
      index,
      served: servedPredicate(spec.servedStatuses),
      upstreamPathFor: (requestPath) => upstreamPathOf(template, segments, requestPath),
    }
    return { route, segments }
  })
  const find = (method: string | undefined, path: string): RouteMatch | undefined => {
    const segments = pathSegments(path)
    if (!segments) return undefined
    for (const { route, segments: pattern } of compiled) {
      if (method !== undefined && !methodMatches(route.method, method)) continue
      const matched = matchSegments(pattern, segments)
      if (matched) return { route, params: matched.params }
    }
    return undefined
  }
  return {
    routes: compiled.map((c) => c.route),
    match: (method, path) => find(method.toUpperCase(), path),
    matchPath: (path) => find(undefined, path),
  }
}
