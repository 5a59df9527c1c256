import { privateKeyToAddress } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { liveConfig, restartOnlyChanges } from './live-settings.js'
import { parseConfig } from './load.js'

const payeeKey = `0x${'11'.repeat(32)}` as const
const env = { SECRET: 'challenge-secret-0123456789-abcdefghij', KEY: payeeKey }

function config(change: (draft: Record<string, Record<string, unknown>>) => void = () => {}) {
  const draft: Record<string, Record<string, unknown>> = {
    server: { realm: 'api.example.com', challengeSecret: '${SECRET}', port: 8080 },
    chain: { network: 'moderato' },
    payee: { address: privateKeyToAddress(payeeKey), signerKey: '${KEY}' },
    currency: { token: '0x20c0000000000000000000000000000000000000' },
    upstreams: { dune: { baseUrl: 'https://api.dune.com/api' } },
    routes: [{ method: 'GET', path: '/a', upstream: 'dune', price: '0.05' }] as never,
  }
  change(draft)
  return parseConfig({ text: stringify(draft), env })
}

describe('live and restart-only settings', () => {
  it('a change of routes, prices, upstreams and limits needs no restart', () => {
    const next = config((d) => {
      d.routes = [{ method: 'GET', path: '/a', upstream: 'dune', price: '0.07' }] as never
      d.upstreams = { dune: { baseUrl: 'https://api2.dune.com/api', connections: 8 } }
      d.limits = { challengesPerClient: { requests: 10, perSeconds: 60 } }
      d.server!.shadow = true
    })
    expect(restartOnlyChanges(config(), next)).toEqual([])
    expect(liveConfig(config(), next)).toEqual(next)
  })

  it('lists the restart-only paths a file changed and keeps their running values', () => {
    const running = config()
    const next = config((d) => {
      d.server!.port = 9090
      d.server!.trustedProxies = ['10.0.0.0/8']
      d.ledger = { type: 'redis', redis: { url: 'redis://127.0.0.1:6379' } }
      d.session = { minDeposit: '0.5' }
      d.routes = [{ method: 'GET', path: '/a', upstream: 'dune', price: '0.07' }] as never
    })
    expect(restartOnlyChanges(running, next)).toEqual([
      'server.port',
      'server.trustedProxies',
      'session.minDeposit',
      'ledger.type',
      'ledger.redis',
    ])
    const applied = liveConfig(running, next)
    expect(applied.server.port).toBe(8080)
    expect(applied.server.trustedProxies).toEqual([])
    expect(applied.ledger).toEqual({ type: 'memory' })
    expect(applied.session).toEqual(running.session)
    expect(applied.routes[0]!.price.amount).toBe(70_000n)
    expect(Object.isFrozen(applied.server)).toBe(true)
  })
})
