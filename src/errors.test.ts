import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { errorCatalogue, GatewayError, problemBody } from './errors.js'

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')
const rows = [...doc.matchAll(/^\| `([a-z-]+)`\s*\| (\d{3})\s*\| `([a-z/-]+)`\s*\|/gm)].map(
  (m) => ({
    code: m[1]!,
    status: Number(m[2]),
    type: m[3]!,
  }),
)

describe('error catalogue', () => {
  it('documents every code exactly once, with its status and problem type', () => {
    expect(rows.map((r) => r.code).sort()).toEqual(Object.keys(errorCatalogue).sort())
    expect(new Set(rows.map((r) => r.code)).size).toBe(rows.length)
    for (const row of rows) {
      const entry = errorCatalogue[row.code as keyof typeof errorCatalogue]
      expect(entry.status, row.code).toBe(row.status)
      expect(entry.type.endsWith(`/${row.type}`), row.code).toBe(true)
    }
  })

  it('renders a problem body with the code, details and challenge id, never the cause', () => {
    const error = new GatewayError('insufficient-balance', 'Not enough.', {
      details: { available: '5' },
      cause: new Error('secret internals'),
    })
    const body = problemBody(error, { challengeId: 'abc', requestId: 'r1' })
    expect(body).toEqual({
      type: 'https://paymentauth.org/problems/session/insufficient-balance',
      title: 'Insufficient Balance',
      status: 402,
      detail: 'Not enough.',
      code: 'insufficient-balance',
      details: { available: '5' },
      challengeId: 'abc',
      requestId: 'r1',
    })
    expect(JSON.stringify(body)).not.toContain('secret internals')
  })
})
