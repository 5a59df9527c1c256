import { describe, expect, it } from 'vitest'
import {
  isUnderPrefix,
  patternParameters,
  reservedPrefixProblem,
  routePatternProblem,
  upstreamPathProblem,
} from './route-pattern.js'

describe('routePatternProblem', () => {
  it.each([
    '/',
    '/v1/sql/execute',
    '/v1/execution/:id/status',
    '/files/*',
    '/*',
    '/a/:x/b/:y',
    '/v1/a:b',
    '/~user/x.json',
  ])('accepts %s', (pattern) => {
    expect(routePatternProblem(pattern)).toBeUndefined()
  })

  it.each([
    ['v1/sql', 'must start with "/"'],
    ['', 'must start with "/"'],
    ['/v1//sql', 'empty segments'],
    ['/v1/sql/', 'empty segments'],
    ['/files/*/meta', '"*" may only be the last segment'],
    ['/files/x*', 'characters that are not allowed'],
    ['/a/:', 'parameter name'],
    ['/a/:1x', 'parameter name'],
    ['/a/:id/b/:id', 'appears twice'],
    ['/a/../b', '".."'],
    ['/a?b=1', 'characters that are not allowed'],
    ['/a#b', 'characters that are not allowed'],
    ['/a b', 'characters that are not allowed'],
  ])('refuses %j (%s)', (pattern, problem) => {
    expect(routePatternProblem(pattern)).toContain(problem)
  })
})

describe('reservedPrefixProblem', () => {
  it('accepts literal paths only', () => {
    expect(reservedPrefixProblem('/__gateway')).toBeUndefined()
    expect(reservedPrefixProblem('/_/internal')).toBeUndefined()
    expect(reservedPrefixProblem('/')).toContain('at least one path segment')
    expect(reservedPrefixProblem('/__gateway/')).toContain('empty segments')
    expect(reservedPrefixProblem('/:x')).toContain('literal')
    expect(reservedPrefixProblem('/x/*')).toContain('literal')
  })
})

describe('isUnderPrefix', () => {
  it('compares whole segments', () => {
    expect(isUnderPrefix('/__gateway', '/__gateway')).toBe(true)
    expect(isUnderPrefix('/__gateway/healthz', '/__gateway')).toBe(true)
    expect(isUnderPrefix('/__gatewayx', '/__gateway')).toBe(false)
    expect(isUnderPrefix('/v1/__gateway', '/__gateway')).toBe(false)
  })
})

describe('upstreamPathProblem', () => {
  it('takes the pattern grammar, where a parameter may repeat', () => {
    expect(upstreamPathProblem('/v1/execution/:id/results/csv')).toBeUndefined()
    expect(upstreamPathProblem('/:id/copy/:id')).toBeUndefined()
    expect(upstreamPathProblem('/storage/*')).toBeUndefined()
    expect(upstreamPathProblem('/:id/:id/a?b')).toContain('characters that are not allowed')
    expect(upstreamPathProblem('v1/x')).toContain('must start with "/"')
    expect(upstreamPathProblem('/x/*/y')).toContain('"*" may only be the last segment')
  })

  it('lists parameters and the rest', () => {
    expect(patternParameters('/a/:x/b/:y/*')).toEqual({ names: ['x', 'y'], rest: true })
    expect(patternParameters('/')).toEqual({ names: [], rest: false })
  })
})
