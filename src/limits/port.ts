/**
 * The rate limiter port: one GCRA step (gcra.ts) on a named key, applied atomically. Two adapters:
 * memory (one process; the memory ledger's companion) and Redis (one Lua script, shared by every
 * gateway instance on the same Redis, so a limit holds in total, not per instance).
 */
import type { Gcra } from './gcra.js'

export type RateVerdict =
  { readonly kind: 'allowed' } | { readonly kind: 'limited'; readonly retryAfterMs: number }

export type RateLimiter = {
  /** Counts one request on `key` at time `now` (ms since the epoch) unless it is over `rate`. */
  take(key: string, rate: Gcra, now: number): Promise<RateVerdict>
}
