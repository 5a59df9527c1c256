import { describe, expect, it } from 'vitest'
import { checkDurability, durabilityOf } from './durability.js'

const config = (appendonly: string, appendfsync: string, policy = 'noeviction', save = '') => ({
  appendonly,
  appendfsync,
  'maxmemory-policy': policy,
  save,
})

describe('durabilityOf', () => {
  it.each([
    ['yes', 'always', 'none'],
    ['yes', 'everysec', 'up-to-1s'],
    ['yes', 'no', 'unknown'],
    ['no', 'always', 'all-since-last-save'],
    ['no', 'everysec', 'all-since-last-save'],
    ['maybe', 'always', 'unknown'],
  ] as const)('appendonly %s + appendfsync %s → %s', (appendonly, appendfsync, risk) => {
    expect(durabilityOf(config(appendonly, appendfsync)).risk).toBe(risk)
  })

  it('says when RDB snapshots are off too', () => {
    expect(durabilityOf(config('no', 'everysec', 'noeviction', '')).message).toMatch(
      /that is everything/,
    )
    expect(durabilityOf(config('no', 'everysec', 'noeviction', '3600 1')).message).not.toMatch(
      /that is everything/,
    )
  })

  it('is unknown when CONFIG GET is not allowed', () => {
    expect(durabilityOf(undefined)).toMatchObject({ risk: 'unknown', appendonly: 'unknown' })
  })
})

describe('checkDurability', () => {
  const run = (report: ReturnType<typeof durabilityOf>, requireDurable: boolean) => {
    const warnings: object[] = []
    const logger = { warn: (obj: object) => warnings.push(obj) }
    const call = () => checkDurability(report, { requireDurable, logger })
    return { call, warnings }
  }

  it('is silent for AOF always with noeviction', () => {
    const { call, warnings } = run(durabilityOf(config('yes', 'always')), true)
    expect(call).not.toThrow()
    expect(warnings).toEqual([])
  })

  it('warns, and refuses when durability is required, for every other risk', () => {
    for (const report of [
      durabilityOf(config('yes', 'everysec')),
      durabilityOf(config('no', 'always')),
      durabilityOf(undefined),
      durabilityOf(config('yes', 'always', 'allkeys-lru')),
    ]) {
      const lenient = run(report, false)
      expect(lenient.call).not.toThrow()
      expect(lenient.warnings.length).toBeGreaterThan(0)
      expect(run(report, true).call).toThrow(/requireDurable/)
    }
  })

  it('accepts volatile eviction: it only evicts keys with a TTL (finalized channels)', () => {
    expect(run(durabilityOf(config('yes', 'always', 'volatile-lru')), true).call).not.toThrow()
  })
})
