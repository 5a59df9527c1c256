/**
 * The soak's verdict logic (scripts/soak/report.ts): slopes over the traffic phase and the check
 * that fails a run whose Redis key families keep growing once traffic stopped.
 */
import { describe, expect, it } from 'vitest'
import { growingAfterLoad, slopePerMinute, type Sample } from '../../scripts/soak/report.js'
import { families, type Family } from '../../scripts/soak/sample.js'

const keys = (fence: number): Record<Family, number> => ({
  ...(Object.fromEntries([...families, 'other'].map((f) => [f, 1])) as Record<Family, number>),
  fence,
})

const sample = (t: number, phase: Sample['phase'], fence: number): Sample => ({
  t,
  phase,
  gatewayRssMb: 100,
  heapUsedMb: 50,
  heapTotalMb: 80,
  loopP99Ms: 1,
  loopMaxMs: 2,
  fds: 30,
  anvilRssMb: 40,
  redisMb: 1,
  keys: keys(fence),
  persistentKeys: 0,
  strays: 0,
  openChannels: 1,
  settled: 0,
  closed: 0,
  errors: 0,
  warnings: 0,
  unknownOutcomes: 0,
  reqPerSec: 0,
  status2xx: 0,
  status4xx: 0,
  status5xx: 0,
  paidP99Ms: 0,
})

describe('soak report', () => {
  it('fits a slope per minute through the samples', () => {
    expect(slopePerMinute([0, 30, 60, 90].map((t) => ({ t, y: 10 + t / 3 })))).toBeCloseTo(20)
    expect(slopePerMinute([{ t: 0, y: 5 }])).toBe(0)
    expect(slopePerMinute([0, 60, 120].map((t) => ({ t, y: 7 })))).toBe(0)
  })

  it('names the key families that grew while idle, and only those', () => {
    const flat = [
      sample(0, 'load', 1),
      sample(10, 'load', 9),
      sample(20, 'idle', 9),
      sample(30, 'idle', 9),
    ]
    expect(growingAfterLoad(flat)).toEqual([])
    const leaking = [...flat, sample(40, 'idle', 12)]
    expect(growingAfterLoad(leaking)).toEqual(['fence'])
    const shrinking = [...flat, sample(40, 'idle', 3)]
    expect(growingAfterLoad(shrinking)).toEqual([])
  })
})
