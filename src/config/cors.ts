/**
 * `server.cors` in gateway.yaml: which browser origins may call the gateway and read its payment
 * headers. Without the section the gateway adds no CORS headers and answers no preflight itself
 * (an `OPTIONS` request is routed like any other).
 *
 * Invariant: every allowed origin is written exactly as a browser sends it in `Origin` (scheme,
 * host, optional port; lower case; no path or trailing "/"), so matching is a plain comparison.
 */
import { z } from 'zod'
import { integer } from './field-types.js'

/** Why `value` cannot be an allowed origin, or `undefined` when it can. */
export function originProblem(value: string): string | undefined {
  if (value === '*') return undefined
  const wanted = 'must be "*" or an origin as browsers send it, e.g. https://app.example.com'
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return wanted
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return wanted
  if (url.origin !== value) {
    return `${wanted} (scheme, host and port only, lower case, without a path or trailing "/"; here: ${url.origin})`
  }
  return undefined
}

const origin = z
  .string()
  .superRefine((value, ctx) => {
    const problem = originProblem(value)
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
  })
  .meta({ description: 'An origin allowed to call the gateway from a browser, or "*" for any.' })

const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'is not a valid HTTP header name')

/** The request headers a browser-based MPP client sends beyond the CORS-safelisted ones. */
export const defaultAllowedHeaders = ['authorization', 'content-type', 'x-request-id'] as const

export const corsSchema = z
  .strictObject({
    allowedOrigins: z
      .array(origin)
      .min(1, 'name at least one origin, or "*"')
      .meta({ description: 'Origins whose pages may call the gateway and read its answers.' }),
    allowedHeaders: z
      .array(headerName)
      .meta({
        description:
          'Request headers a page may send (answered in preflights); Authorization carries the payment credential.',
      })
      .default([...defaultAllowedHeaders]),
    exposeHeaders: z
      .array(headerName)
      .meta({
        description:
          "Further response headers a page may read (the upstream's own), beside Payment-Receipt, WWW-Authenticate, X-Request-Id and Payment-Shadow-Price.",
      })
      .default([]),
    maxAgeSeconds: integer({
      min: 0,
      max: 86400,
      description: 'How long a browser may cache a preflight answer.',
    }).default(600),
  })
  .meta({
    description:
      'Cross-origin access for browser-based clients: preflights are answered by the gateway (never forwarded, never charged), and Payment-Receipt, WWW-Authenticate, X-Request-Id and Payment-Shadow-Price are exposed to the page.',
  })
