/**
 * The gateway's own endpoints under the reserved prefix (default `/__gateway`), so they never
 * shadow an upstream path: `healthz` (the process is up), `readyz` (whether it should receive
 * traffic, and why not) and, when a scrape token is configured, `metrics`.
 *
 * Readiness tells the truth in three states, as JSON with the reasons:
 * - `ready` (200): the ledger and the chain answer;
 * - `degraded` (200): the chain does not answer — vouchers are still served from the ledger, so
 *   traffic should keep coming, but opens and top-ups are refused (503) until it does;
 * - `not-ready` (503): shutting down, or the ledger does not answer (no paid request can be
 *   served, free ones still are) — a load balancer should move traffic away.
 *
 * Each endpoint answers only at its canonical path, byte for byte: `/__gateway/%68ealthz` is not
 * the health endpoint but an unknown path (404 from the gate), so no spelling of a path reaches
 * the gateway's endpoints that a client's own proxy rules would not recognise.
 */
import type { HttpBindings } from '@hono/node-server'
import type { Context, Hono } from 'hono'
import { presentsToken, type Metrics } from './metrics.js'

export type ReadinessReport = {
  readonly status: 'ready' | 'degraded' | 'not-ready'
  /** Why not ready (or degraded); empty when ready. */
  readonly reasons: readonly string[]
}

export type Readiness = {
  check(): Promise<ReadinessReport>
}

/** Readiness from its parts; each probe must answer within its own deadline. */
export function createReadiness(parts: {
  readonly stopping: () => boolean
  /** Resolves when the ledger answers, rejects (or is late) when not. */
  readonly pingLedger: () => Promise<unknown>
  readonly ledgerTimeoutMs: number
  /** Whether the chain answers (chain/reachability.ts `probe`). */
  readonly chainReachable: () => Promise<boolean>
}): Readiness {
  const ledgerUp = async () => {
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        parts.pingLedger(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), parts.ledgerTimeoutMs)
        }),
      ])
      return true
    } catch {
      return false
    } finally {
      clearTimeout(timer)
    }
  }
  return {
    async check() {
      const [ledger, chain] = await Promise.all([ledgerUp(), parts.chainReachable()])
      const fatal: string[] = []
      if (parts.stopping()) fatal.push('shutting down')
      if (!ledger) fatal.push('ledger unreachable')
      const degraded = chain ? [] : ['chain unreachable']
      if (fatal.length > 0) return { status: 'not-ready', reasons: [...fatal, ...degraded] }
      return degraded.length > 0
        ? { status: 'degraded', reasons: degraded }
        : { status: 'ready', reasons: [] }
    },
  }
}

export function mountHealth<V extends object>(
  app: Hono<{ Bindings: HttpBindings; Variables: V }>,
  deps: {
    limits: { reservedPrefix: string }
    readiness: Readiness
    metrics: Metrics
    metricsToken: string | undefined
  },
): void {
  const prefix = deps.limits.reservedPrefix.replace(/\/+$/, '')
  /** Serves `path` only when the raw request path is exactly it; anything else goes on. */
  type C = Context<{ Bindings: HttpBindings; Variables: V }>
  const at = (path: string, handler: (c: C) => Response | Promise<Response>) => {
    app.get(path, async (c, next) => {
      const raw = c.env.incoming.url ?? ''
      if (raw.split(/[?#]/, 1)[0] !== path) return next()
      return handler(c)
    })
  }
  at(`${prefix}/healthz`, (c) => c.json({ status: 'ok' }))
  at(`${prefix}/readyz`, async (c) => {
    const report = await deps.readiness.check()
    c.header('cache-control', 'no-store')
    return c.json(report, report.status === 'not-ready' ? 503 : 200)
  })
  const token = deps.metricsToken
  if (token === undefined) return
  at(`${prefix}/metrics`, async (c) => {
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
