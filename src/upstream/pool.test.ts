import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { createSlots, createUpstreamPools, type UpstreamSpec } from './pool.js'

const spec = (overrides: Partial<UpstreamSpec> = {}): UpstreamSpec => ({
  name: 'api',
  baseUrl: 'http://127.0.0.1:9/v1/',
  headers: {},
  connectTimeoutMs: 1000,
  headersTimeoutMs: 1000,
  bodyTimeoutMs: 1000,
  responseTimeoutMs: 5000,
  queueTimeoutMs: 100,
  maxRequestBodyBytes: 1024,
  connections: 4,
  ...overrides,
})

describe('createUpstreamPools', () => {
  it('creates one pool per upstream with the base path from baseUrl', async () => {
    const pools = createUpstreamPools([
      spec(),
      spec({ name: 'bare', baseUrl: 'https://api.example.com' }),
    ])
    expect(pools.get('api').basePath).toBe('/v1')
    expect(pools.get('api').spec.name).toBe('api')
    expect(pools.get('bare').basePath).toBe('')
    expect(pools.get('api').pool).not.toBe(pools.get('bare').pool)
    expect(pools.get('api').pool).toBe(pools.get('api').pool)
    await pools.close()
  })

  it('throws on an unknown upstream name', async () => {
    const pools = createUpstreamPools([spec()])
    expect(() => pools.get('nope')).toThrow("unknown upstream 'nope'")
    await pools.close()
  })

  it.each([
    [{ baseUrl: 'not a url' }, 'baseUrl is not a URL'],
    [{ baseUrl: 'ftp://x.example' }, 'must be http or https'],
    [{ baseUrl: 'http://u:p@x.example' }, 'must not carry credentials'],
    [{ baseUrl: 'http://x.example/?a=1' }, 'must not have a query'],
    [{ connections: 0 }, 'connections must be an integer ≥ 1'],
    [{ headersTimeoutMs: 1.5 }, 'headersTimeoutMs must be an integer ≥ 1'],
    [{ maxRequestBodyBytes: -1 }, 'maxRequestBodyBytes must be an integer ≥ 0'],
  ] as const)('refuses a bad spec %o', (overrides, message) => {
    expect(() => createUpstreamPools([spec(overrides)])).toThrow(message)
  })

  it('refuses duplicate names', () => {
    expect(() => createUpstreamPools([spec(), spec()])).toThrow("duplicate upstream name 'api'")
  })

  it('keeps connections alive and closes gracefully, idempotently', async () => {
    const sockets = new Set<unknown>()
    const server = createServer((_req, res) => res.end('ok'))
    server.on('connection', (socket) => sockets.add(socket))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const pools = createUpstreamPools([spec({ baseUrl: `http://127.0.0.1:${port}` })])
    const { pool } = pools.get('api')
    try {
      for (let i = 0; i < 3; i++) {
        const { body } = await pool.request({ path: '/', method: 'GET' })
        expect(await body.text()).toBe('ok')
        // The pool marks a client free again on its 'drain' event, one tick after the body ends.
        await new Promise((resolve) => setImmediate(resolve))
      }
      expect(sockets.size).toBe(1)
      const first = pools.close()
      expect(pools.close()).toBe(first)
      await first
      expect(pool.closed).toBe(true)
      await expect(pool.request({ path: '/', method: 'GET' })).rejects.toThrow()
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe('createSlots', () => {
  it('grants slots up to its size, then in arrival order as they are released', async () => {
    const slots = createSlots(2)
    const [a, b] = [await slots.take(0), await slots.take(0)]
    expect(typeof a).toBe('function')
    expect(typeof b).toBe('function')
    expect(await slots.take(0)).toBe('busy')
    const order: string[] = []
    const first = slots.take(5_000).then((r) => (order.push('first'), r))
    const second = slots.take(5_000).then((r) => (order.push('second'), r))
    expect(slots.usage()).toEqual({ inUse: 2, waiting: 2 })
    ;(a as () => void)()
    ;(a as () => void)() // a second release gives nothing back
    const granted = await first
    expect(order).toEqual(['first'])
    expect(slots.usage()).toEqual({ inUse: 2, waiting: 1 })
    ;(b as () => void)()
    await second
    expect(order).toEqual(['first', 'second'])
    ;(granted as () => void)()
    expect(slots.usage()).toEqual({ inUse: 1, waiting: 0 })
  })

  it('gives up after the wait or when the signal aborts, leaving the queue clean', async () => {
    const slots = createSlots(1)
    const held = (await slots.take(0)) as () => void
    expect(await slots.take(20)).toBe('busy')
    const controller = new AbortController()
    const waiting = slots.take(5_000, controller.signal)
    controller.abort()
    expect(await waiting).toBe('aborted')
    expect(slots.usage()).toEqual({ inUse: 1, waiting: 0 })
    held()
    expect(slots.usage()).toEqual({ inUse: 0, waiting: 0 })
  })
})
