/**
 * The gateway's own endpoints under the reserved prefix (default `/__gateway`), so they never
 * shadow an upstream path: `healthz` (the process is up), `readyz` (it should receive traffic:
 * not shutting down, and the ledger answers) and, when a scrape token is configured, `metrics`.
 */
import type { Hono } from 'hono'
import { presentsToken, type Metrics } from './metrics.js'

export type Readiness = {
  /** Why the gateway should not receive traffic now; empty when ready. */
  check(): Promise<string[]>
}

export function mountHealth<E extends object>(
  app: Hono<E & { Bindings: object; Variables: object }>,
  deps: {
    limits: { reservedPrefix: string }
    readiness: Readiness
    metrics: Metrics
    metricsToken: string | undefined
  },
): void {
  const prefix = deps.limits.reservedPrefix.replace(/\/+$/, '')
  app.get(`${prefix}/healthz`, (c) => c.json({ status: 'ok' }))
  app.get(`${prefix}/readyz`, async (c) => {
    const reasons = await deps.readiness.check()
    c.header('cache-control', 'no-store')
    return reasons.length === 0
      ? c.json({ status: 'ready' })
      : c.json({ status: 'not-ready', reasons }, 503)
  })
  const token = deps.metricsToken
  if (token === undefined) return
  app.get(`${prefix}/metrics`, async (c) => {
    c.header('cache-control', 'no-store')
    if (!presentsToken(c, token)) {
      c.header('www-authenticate', 'Bearer realm="metrics"')
      return c.body(null, 401)
    }
    const text = await deps.metrics.render()
    c.header('content-type', deps.metrics.contentType)
    return c.body(text)
  })
}
