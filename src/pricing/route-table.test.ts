import { describe, expect, it } from 'vitest'
import { compileRoutes, type RouteSpec } from './route-table.js'

const spec = (method: string, path: string, price: bigint | undefined): RouteSpec => ({
  method,
  path,
  upstream: 'dune',
  price,
  unitType: 'request',
  description: undefined,
  charge: 'on-success',
  servedStatuses: ['2xx'],
})

const table = compileRoutes([
  spec('POST', '/v1/sql/execute', 50_000n),
  spec('GET', '/v1/execution/:id/status', undefined),
  spec('GET', '/v1/execution/:id/results', 10_000n),
  spec('GET', '/v1/execution/:id/results/csv', 10_000n),
  spec('*', '/v1/files/*', 1n),
])

describe('route table', () => {
  it('matches method and pattern, first match wins, with params', () => {
    expect(table.match('POST', '/v1/sql/execute')?.route.index).toBe(0)
    expect(table.match('post', '/v1/sql/execute')?.route.price).toBe(50_000n)
    const status = table.match('GET', '/v1/execution/01HX/status')
    expect(status?.route.index).toBe(1)
    expect(status?.params).toEqual({ id: '01HX' })
    expect(table.match('GET', '/v1/execution/01HX/results/csv')?.route.index).toBe(3)
    expect(table.match('DELETE', '/v1/files/a/b/c')?.route.index).toBe(4)
    expect(table.match('HEAD', '/v1/execution/01HX/results')?.route.index).toBe(2)
    expect(table.match('HEAD', '/v1/sql/execute')).toBeUndefined()
  })

  it('matches nothing for other methods, unknown or partial paths', () => {
    expect(table.match('GET', '/v1/sql/execute')).toBeUndefined()
    expect(table.match('GET', '/v1/execution/01HX')).toBeUndefined()
    expect(table.match('GET', '/v1/execution/01HX/status/extra')).toBeUndefined()
    expect(table.match('GET', '/')).toBeUndefined()
  })

  it('refuses paths an upstream could normalise into another route', () => {
    for (const path of [
      '/v1/execution/../sql/execute',
      '/v1/execution/./x/status',
      '/v1/execution/x%2F..%2Fsql/status',
      '/v1/execution/%2e%2e/status',
      '/v1/execution/a\\b/status',
      '/v1/execution/..;/status',
      '/v1/execution/.;x/status',
      'v1/sql/execute',
    ]) {
      expect(table.match('GET', path), path).toBeUndefined()
    }
  })

  it('finds the route of a path regardless of method for management POSTs', () => {
    expect(table.matchPath('/v1/execution/7/results')?.route.index).toBe(2)
  })

  it('tells served statuses apart', () => {
    const route = compileRoutes([{ ...spec('GET', '/x', 1n), servedStatuses: ['2xx', 304] }])
      .routes[0]!
    expect([200, 204, 299, 304].map(route.served)).toEqual([true, true, true, true])
    expect([199, 300, 404, 500, 503].map(route.served)).toEqual([false, false, false, false, false])
  })

  it('builds the upstream path from the route template, carrying parameters and the rest over', () => {
    const routes = compileRoutes([
      {
        ...spec('GET', '/v1/execution/:execution_id/csv', 1n),
        upstreamPath: '/v1/execution/:execution_id/results/csv',
      },
      { ...spec('GET', '/a/:x/b/:y', 1n), upstreamPath: '/:y/:x/:y' },
      { ...spec('*', '/files/:bucket/*', 1n), upstreamPath: '/storage/:bucket/objects/*' },
      { ...spec('GET', '/root', 1n), upstreamPath: '/' },
      spec('GET', '/same/:id', 1n),
    ])
    const upstreamPath = (method: string, path: string) =>
      routes.match(method, path)?.route.upstreamPathFor(path)
    expect(upstreamPath('GET', '/v1/execution/01HXYZ/csv')).toBe('/v1/execution/01HXYZ/results/csv')
    expect(upstreamPath('GET', '/a/1/b/2')).toBe('/2/1/2')
    expect(upstreamPath('PUT', '/files/logs/2026/12/03.txt')).toBe(
      '/storage/logs/objects/2026/12/03.txt',
    )
    // "*" also matches nothing at all.
    expect(upstreamPath('PUT', '/files/logs')).toBe('/storage/logs/objects')
    expect(upstreamPath('PUT', '/files/logs/')).toBe('/storage/logs/objects')
    expect(upstreamPath('GET', '/root')).toBe('/')
    // The matched (decoded) parameters are percent-encoded again; without a template the path goes
    // as it came.
    expect(upstreamPath('GET', '/same/a%20b')).toBe('/same/a%20b')
    expect(upstreamPath('GET', '/v1/execution/a b/csv')).toBe('/v1/execution/a%20b/results/csv')
    expect(upstreamPath('GET', '/v1/execution/€?#/csv')).toBe(
      '/v1/execution/%E2%82%AC%3F%23/results/csv',
    )
  })

  it('refuses to build an upstream path for a path the route does not match', () => {
    const route = compileRoutes([{ ...spec('GET', '/x/:id', 1n), upstreamPath: '/y/:id' }])
      .routes[0]!
    expect(() => route.upstreamPathFor('/z/1')).toThrow('does not match')
  })
})
