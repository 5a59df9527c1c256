/**
 * `durability()` against real servers with each persistence setting, and `checkDurability`
 * refusing to start a gateway that requires durability on a Redis that could lose a voucher.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { checkDurability, type DurabilityReport } from '../../src/ledger/redis/durability.js'
import {
  startRedisServer,
  type RedisServer,
  type RedisServerOptions,
} from '../support/redis-server.js'

const setups = {
  always: { appendonly: true, appendfsync: 'always' },
  everysec: { appendonly: true, appendfsync: 'everysec' },
  fsyncNo: { appendonly: true, appendfsync: 'no' },
  off: { appendonly: false },
  configRenamed: {
    appendonly: true,
    appendfsync: 'always',
    args: ['--rename-command', 'CONFIG', ''],
  },
  evicting: {
    appendonly: true,
    appendfsync: 'always',
    args: ['--maxmemory-policy', 'allkeys-lru'],
  },
} as const satisfies Record<string, RedisServerOptions>

type Setup = keyof typeof setups

describe('redis ledger: durability report', () => {
  const servers = new Map<Setup, RedisServer>()
  const ledgers = new Map<Setup, RedisLedger>()

  beforeAll(async () => {
    await Promise.all(
      (Object.keys(setups) as Setup[]).map(async (name) => {
        const server = await startRedisServer(setups[name])
        servers.set(name, server)
        ledgers.set(name, await createRedisLedger({ url: server.url, keyPrefix: 'durability:' }))
      }),
    )
  })
  afterAll(async () => {
    for (const ledger of ledgers.values()) await ledger.close()
    for (const server of servers.values()) await server.stop()
  })

  const report = (name: Setup) => ledgers.get(name)!.durability()

  /** What checkDurability does with a report: the warnings it logs and whether it throws. */
  const check = (r: DurabilityReport, requireDurable: boolean) => {
    const warnings: string[] = []
    const logger = { warn: (_obj: object, msg: string) => warnings.push(msg) }
    let thrown: unknown
    try {
      checkDurability(r, { requireDurable, logger })
    } catch (error) {
      thrown = error
    }
    return { warnings, thrown }
  }

  it('AOF always: no risk, no warning, durable start allowed', async () => {
    const r = await report('always')
    expect(r).toMatchObject({
      appendonly: 'yes',
      appendfsync: 'always',
      maxmemoryPolicy: 'noeviction',
      risk: 'none',
    })
    expect(check(r, true)).toEqual({ warnings: [], thrown: undefined })
  })

  it('AOF everysec: up to 1 s at risk; warned, refused when durability is required', async () => {
    const r = await report('everysec')
    expect(r).toMatchObject({ appendonly: 'yes', appendfsync: 'everysec', risk: 'up-to-1s' })
    expect(r.message).toMatch(/could be lost/)
    const lenient = check(r, false)
    expect(lenient.thrown).toBeUndefined()
    expect(lenient.warnings).toEqual([r.message])
    const strict = check(r, true)
    expect(strict.thrown).toBeInstanceOf(Error)
    expect(String(strict.thrown)).toMatch(/requireDurable/)
  })

  it('AOF with appendfsync no: the kernel decides, so the risk is unknown', async () => {
    const r = await report('fsyncNo')
    expect(r).toMatchObject({ appendonly: 'yes', appendfsync: 'no', risk: 'unknown' })
    expect(check(r, true).thrown).toBeInstanceOf(Error)
  })

  it('no AOF: everything since the last save, which is everything without snapshots', async () => {
    const r = await report('off')
    expect(r).toMatchObject({ appendonly: 'no', risk: 'all-since-last-save' })
    expect(r.message).toMatch(/that is everything/)
    expect(check(r, false).warnings).toHaveLength(1)
    expect(check(r, true).thrown).toBeInstanceOf(Error)
  })

  it('CONFIG renamed away: unknown, refused when durability is required', async () => {
    const r = await report('configRenamed')
    expect(r).toMatchObject({
      appendonly: 'unknown',
      appendfsync: 'unknown',
      maxmemoryPolicy: 'unknown',
      risk: 'unknown',
    })
    expect(check(r, false).thrown).toBeUndefined()
    expect(check(r, true).thrown).toBeInstanceOf(Error)
  })

  it('an allkeys eviction policy is a risk even with AOF always', async () => {
    const r = await report('evicting')
    expect(r).toMatchObject({ risk: 'none', maxmemoryPolicy: 'allkeys-lru' })
    const lenient = check(r, false)
    expect(lenient.warnings).toEqual([expect.stringMatching(/noeviction/)])
    expect(check(r, true).thrown).toBeInstanceOf(Error)
  })
})
