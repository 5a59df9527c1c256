import { describe, expect, it } from 'vitest'
import { parseRequestTarget } from './target.js'

describe('parseRequestTarget', () => {
  it('routes the decoded path and keeps the raw target, without a fragment', () => {
    expect(parseRequestTarget('/a%20b/%E2%82%AC?q=%C3%A9')).toEqual({
      kind: 'origin',
      path: '/a b/€',
      target: '/a%20b/%E2%82%AC?q=%C3%A9',
      hasQuery: true,
    })
    expect(parseRequestTarget('/free/1#?../paid/1')).toEqual({
      kind: 'origin',
      path: '/free/1',
      target: '/free/1',
      hasQuery: false,
    })
    // Escapes of reserved characters stay escaped in the routed path (the route table refuses them).
    expect(parseRequestTarget('/a%2Fb%3F')).toMatchObject({ path: '/a%2Fb%3F' })
  })

  it('reduces an absolute-form target to its origin form', () => {
    expect(parseRequestTarget('http://elsewhere.example/p?x=1')).toMatchObject({
      path: '/p',
      target: '/p?x=1',
    })
    expect(parseRequestTarget('HTTPS://h')).toMatchObject({ target: '/' })
    expect(parseRequestTarget('http://h?x')).toMatchObject({ target: '/?x', hasQuery: true })
  })

  it('refuses what no upstream should be asked for', () => {
    for (const raw of [
      '*',
      'x/y',
      '/a%00',
      '/a%0A',
      '/a%0d',
      '/a%7F',
      '/a%zz',
      '/a%',
      '/a%E2%82',
      '/a%C0%AF',
      '/a%ED%A0%80',
      '/\u00e9',
      '/a b',
    ]) {
      expect(parseRequestTarget(raw), raw).toMatchObject({ kind: 'invalid' })
    }
  })

  it('leaves the query to the upstream', () => {
    expect(parseRequestTarget('/a?%00&%zz')).toMatchObject({ kind: 'origin', target: '/a?%00&%zz' })
  })
})
