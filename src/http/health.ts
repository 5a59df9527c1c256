/**
 * The gateway's own endpoints under the reserved prefix (default `/__gateway`), so they never
 * shadow an upstream path: `healthz` (the process is up) and `readyz` (it should receive traffic:
 * not shutting down, and the ledger answers).
 */
import type { Hono } from 'hono'

export type Readiness = {
  /** Why the gateway should not receive traffic now; empty when ready. */
  check(): Promise<string[]>
}

export function mountHealth<E extends object>(
  app: Hono<E & { Bindings: object; Variables: object }>,
  deps: { limits: { reservedPrefix: string }; readiness: Readiness },
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
}
