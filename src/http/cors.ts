/**
 * Cross-origin access for browser-based agents (`server.cors`): a page on an allowed origin may
 * call the gateway, pay, and read the payment headers of every answer.
 *
 * Rules:
 *  - a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered by the
 *    gateway itself with `204`: never routed, never forwarded, never charged. An allowed origin
 *    gets the methods of the configured routes (plus `POST`, which carries mppx's management
 *    requests: top-up and close) and the configured request headers; any other origin gets no
 *    `Access-Control-Allow-*` header, which the browser reads as a refusal;
 *  - every other answer to an allowed origin carries `Access-Control-Allow-Origin` and exposes
 *    `Payment-Receipt`, `WWW-Authenticate`, `X-Request-Id` and `Payment-Shadow-Price` (plus any
 *    configured `exposeHeaders`), replacing the upstream's own CORS headers of those names;
 *  - with a list of origins the allowed origin is echoed and answers carry `Vary: Origin` (an
 *    upstream answer that has its own `Vary` keeps it); with `"*"` the answer says `*`.
 * No `Access-Control-Allow-Credentials`: payment credentials travel in `Authorization`, set by
 * the page's script, which CORS does not count as browser credentials (cookies).
 */
import type { HttpBindings } from '@hono/node-server'
import type { MiddlewareHandler } from 'hono'
import type { AccessEntry } from './access-log.js'

export type CorsSettings = {
  readonly allowedOrigins: readonly string[]
  readonly allowedHeaders: readonly string[]
  readonly exposeHeaders?: readonly string[] | undefined
  readonly maxAgeSeconds: number
}

/** The configured rules, compiled once at boot. */
export type CorsPolicy = {
  /** Allowed origins, or `*` for any. */
  readonly origins: ReadonlySet<string> | '*'
  readonly allowMethods: string
  readonly allowHeaders: string
  readonly exposeHeaders: string
  readonly maxAgeSeconds: number
}

/** The gateway's own answer headers a page needs to read to pay and to trace a request. */
export const exposedPaymentHeaders = [
  'Payment-Receipt',
  'WWW-Authenticate',
  'X-Request-Id',
  'Payment-Shadow-Price',
] as const

/** Methods in the order preflight answers list them. */
const methodOrder = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

export function corsPolicy(settings: CorsSettings, routeMethods: readonly string[]): CorsPolicy {
  const methods = new Set<string>(['POST'])
  for (const method of routeMethods) {
    if (method === '*') methodOrder.forEach((one) => methods.add(one))
    methods.add(method)
    if (method === 'GET') methods.add('HEAD')
  }
  return {
    origins: settings.allowedOrigins.includes('*') ? '*' : new Set(settings.allowedOrigins),
    allowMethods: methodOrder.filter((method) => methods.has(method)).join(', '),
    allowHeaders: settings.allowedHeaders.join(', '),
    exposeHeaders: [...exposedPaymentHeaders, ...(settings.exposeHeaders ?? [])].join(', '),
    maxAgeSeconds: settings.maxAgeSeconds,
  }
}

/** `Access-Control-Allow-Origin` for `origin`, or undefined when it is not allowed. */
function allowedOrigin(policy: CorsPolicy, origin: string | undefined): string | undefined {
  if (origin === undefined) return undefined
  if (policy.origins === '*') return '*'
  return policy.origins.has(origin) ? origin : undefined
}

/**
 * The CORS headers of an answer (not a preflight) to a request from `origin`: empty when the
 * origin is absent or not allowed.
 */
export function answerCorsHeaders(
  policy: CorsPolicy,
  origin: string | undefined,
): Record<string, string> {
  const allowed = allowedOrigin(policy, origin)
  if (allowed === undefined) return {}
  return {
    'access-control-allow-origin': allowed,
    'access-control-expose-headers': policy.exposeHeaders,
  }
}

/** The headers of the `204` that answers a preflight from `origin`. */
export function preflightHeaders(
  policy: CorsPolicy,
  origin: string,
): { readonly allowed: boolean; readonly headers: Record<string, string> } {
  const vary: Record<string, string> = policy.origins === '*' ? {} : { vary: 'Origin' }
  const allowed = allowedOrigin(policy, origin)
  if (allowed === undefined) return { allowed: false, headers: vary }
  return {
    allowed: true,
    headers: {
      ...vary,
      'access-control-allow-origin': allowed,
      'access-control-allow-methods': policy.allowMethods,
      'access-control-allow-headers': policy.allowHeaders,
      'access-control-max-age': String(policy.maxAgeSeconds),
    },
  }
}

type Env = {
  Bindings: HttpBindings
  Variables: {
    entry: AccessEntry
    /** CORS headers for this request's answer, whoever writes it (see relay.ts). */
    cors: Record<string, string>
  }
}

/**
 * The middleware: answers preflights, and puts the CORS headers of every other answer on the
 * response (for answers written by the gateway) and in the context (for the relay, whose
 * upstream headers would otherwise take precedence).
 */
export function cors(policy: CorsPolicy): MiddlewareHandler<Env> {
  return async (c, next) => {
    const origin = c.req.header('origin')
    if (
      c.req.method === 'OPTIONS' &&
      origin !== undefined &&
      c.req.header('access-control-request-method') !== undefined
    ) {
      const preflight = preflightHeaders(policy, origin)
      c.get('entry').outcome = preflight.allowed ? 'preflight' : 'preflight-refused'
      return c.body(null, 204, preflight.headers)
    }
    const headers = answerCorsHeaders(policy, origin)
    if (policy.origins !== '*') c.env.outgoing.setHeader('vary', 'Origin')
    for (const [name, value] of Object.entries(headers)) c.env.outgoing.setHeader(name, value)
    c.set('cors', headers)
    return next()
  }
}
