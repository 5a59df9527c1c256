import { describe, expect, it } from 'vitest'
import { expandEnv } from './env-expand.js'

const env = { KEY: 'k-123', EMPTY: '', PORT: '9090' }

describe('expandEnv', () => {
  it.each([
    ['plain text', 'plain text', false],
    ['${KEY}', 'k-123', true],
    ['Bearer ${KEY}!', 'Bearer k-123!', true],
    ['${KEY}${PORT}', 'k-1239090', true],
    ['${EMPTY}', '', true],
    ['${MISSING:-fallback}', 'fallback', true],
    ['${EMPTY:-fallback}', 'fallback', true],
    ['${KEY:-fallback}', 'k-123', true],
    ['${MISSING:-}', '', true],
    ['${MISSING:-a:b-c}', 'a:b-c', true],
    ['cost $5', 'cost $5', false],
    ['$${KEY}', '${KEY}', false],
    ['a$', 'a$', false],
  ])('%j → %j', (text, value, expanded) => {
    expect(expandEnv(text, env)).toEqual({ ok: true, value, expanded })
  })

  it('names every missing variable, and no value', () => {
    const result = expandEnv('${KEY}:${A}:${B}', env)
    expect(result.ok).toBe(false)
    expect(result.ok ? '' : result.problem).toBe(
      'environment variables A, B are not set (and their references have no :-default)',
    )
  })

  it.each([
    ['${KEY', 'without its closing "}"'],
    ['${}', 'malformed reference'],
    ['${1X}', 'malformed reference'],
    ['${A B}', 'malformed reference'],
    ['${KEY:default}', 'malformed reference'],
  ])('refuses %j', (text, problem) => {
    const result = expandEnv(text, env)
    expect(result.ok ? '' : result.problem).toContain(problem)
  })
})
