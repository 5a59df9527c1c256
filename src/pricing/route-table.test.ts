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
})
