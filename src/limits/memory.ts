/**
 * The in-process rate limiter: a map of key → TAT, stepped synchronously (so atomically) by the
 * GCRA specification. Bounded: once the map holds `sweepAbove` keys, every step first drops the
 * keys whose TAT has passed (they mean the same as absent ones).
 */
import { gcraStep } from './gcra.js'
import type { RateLimiter } from './port.js'

export function createMemoryRateLimiter(options: { sweepAbove?: number } = {}): RateLimiter & {
  readonly size: () => number
} {
  const tats = new Map<string, number>()
  const sweepAbove = options.sweepAbove ?? 10_000
  return {
    size: () => tats.size,
    take(key, rate, now) {
      const nowUs = Math.round(now * 1000)
      if (tats.size >= sweepAbove) {
        for (const [k, tat] of tats) if (tat <= nowUs) tats.delete(k)
      }
      const step = gcraStep({ storedUs: tats.get(key), nowUs, rate })
      if (!step.allowed) {
        return Promise.resolve({ kind: 'limited', retryAfterMs: step.retryAfterMs })
      }
      tats.set(key, step.tatUs)
      return Promise.resolve({ kind: 'allowed' })
    },
  }
}
