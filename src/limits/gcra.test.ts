import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { gcraOf, gcraStep } from './gcra.js'

describe('GCRA', () => {
  it('lets a burst of `requests` through at once, then one per interval', () => {
    const rate = gcraOf({ requests: 3, perSeconds: 3 })
    let stored: number | undefined
    const at = (ms: number) => {
      const step = gcraStep({ storedUs: stored, nowUs: ms * 1000, rate })
      if (step.allowed) stored = step.tatUs
      return step
    }
    expect([at(0), at(0), at(0)].map((s) => s.allowed)).toEqual([true, true, true])
    expect(at(0)).toEqual({ allowed: false, retryAfterMs: 1000 })
    expect(at(400)).toEqual({ allowed: false, retryAfterMs: 600 })
    expect(at(1000).allowed).toBe(true)
    expect(at(1000)).toEqual({ allowed: false, retryAfterMs: 1000 })
  })

  it('never allows more than burst + elapsed / interval requests, and refusals store nothing', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 60 }),
        fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 200 }),
        (requests, perSeconds, gaps) => {
          const rate = gcraOf({ requests, perSeconds })
          let stored: number | undefined
          let now = 1_700_000_000_000_000
          const start = now
          let allowed = 0
          for (const gap of gaps) {
            now += gap * 1000
            const step = gcraStep({ storedUs: stored, nowUs: now, rate })
            if (step.allowed) {
              allowed += 1
              stored = step.tatUs
              expect(step.ttlMs).toBeGreaterThan(0)
            } else {
              expect(step.retryAfterMs).toBeGreaterThan(0)
              // Waiting exactly the advised time lets the next request through.
              expect(
                gcraStep({ storedUs: stored, nowUs: now + step.retryAfterMs * 1000, rate }).allowed,
              ).toBe(true)
            }
          }
          expect(allowed).toBeLessThanOrEqual(
            requests + Math.floor((now - start) / rate.intervalUs),
          )
        },
      ),
    )
  })
})
