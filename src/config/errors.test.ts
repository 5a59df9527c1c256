import { describe, expect, it } from 'vitest'
import { ConfigError, formatPath } from './errors.js'

describe('formatPath', () => {
  it.each<[(string | number)[], string]>([
    [[], ''],
    [['routes', 2, 'price'], 'routes[2].price'],
    [['upstreams', 'dune', 'baseUrl'], 'upstreams.dune.baseUrl'],
    [['upstreams', 'dune', 'headers', 'X-Dune-Api-Key'], 'upstreams.dune.headers.X-Dune-Api-Key'],
    [['upstreams', 'du ne'], 'upstreams["du ne"]'],
    [['upstreams', 'a.b', 'baseUrl'], 'upstreams["a.b"].baseUrl'],
  ])('%j → %s', (segments, text) => {
    expect(formatPath(segments)).toBe(text)
  })
})

describe('ConfigError', () => {
  it('lists every issue in its message', () => {
    const error = new ConfigError('g.yaml', [
      { path: 'a.b', message: 'is required', line: 3 },
      { path: '', message: 'the file is empty' },
    ])
    expect(error).toBeInstanceOf(Error)
    expect(error.name).toBe('ConfigError')
    expect(error.message).toBe(
      'g.yaml: 2 problems\n  - a.b (line 3): is required\n  - (document): the file is empty',
    )
  })
})
