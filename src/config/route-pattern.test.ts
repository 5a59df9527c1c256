import { describe, expect, it } from 'vitest'
import { isUnderPrefix, reservedPrefixProblem, routePatternProblem } from './route-pattern.js'

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
