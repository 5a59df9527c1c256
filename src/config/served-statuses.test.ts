import { describe, expect, it } from 'vitest'
import { isServedStatus } from './served-statuses.js'

describe('isServedStatus', () => {
  it('matches classes and exact codes', () => {
    expect(isServedStatus(['2xx'], 200)).toBe(true)
    expect(isServedStatus(['2xx'], 299)).toBe(true)
    expect(isServedStatus(['2xx'], 304)).toBe(false)
    expect(isServedStatus(['2xx', 304], 304)).toBe(true)
    expect(isServedStatus([304], 305)).toBe(false)
    expect(isServedStatus(['5xx'], 502)).toBe(true)
  })
})
