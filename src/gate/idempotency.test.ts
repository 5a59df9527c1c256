import { describe, expect, it } from 'vitest'
import { fingerprintOf, retryKeyOf } from './idempotency.js'

describe('retryKeyOf', () => {
  it('takes the Idempotency-Key (an sf-string without its quotes), else the credential', () => {
    expect(retryKeyOf({ idempotencyKey: 'run-1', credential: 'Payment abc' })).toEqual({
      kind: 'key',
      key: 'k:run-1',
      explicit: true,
    })
    expect(retryKeyOf({ idempotencyKey: '"run-1"', credential: undefined })).toMatchObject({
      key: 'k:run-1',
    })
    const byCredential = retryKeyOf({ idempotencyKey: undefined, credential: 'Payment abc' })
    expect(byCredential).toMatchObject({ kind: 'key', explicit: false })
    expect(byCredential).not.toEqual(
      retryKeyOf({ idempotencyKey: undefined, credential: 'Payment abd' }),
    )
    expect(retryKeyOf({ idempotencyKey: undefined, credential: undefined })).toEqual({
      kind: 'none',
    })
  })

  it('refuses an empty, spaced, non-ASCII, over-long or repeated key', () => {
    for (const key of ['', 'a b', 'clé', 'x'.repeat(256), ['a', 'b']]) {
      expect(retryKeyOf({ idempotencyKey: key, credential: 'Payment abc' })).toEqual({
        kind: 'invalid',
      })
    }
    expect(retryKeyOf({ idempotencyKey: 'x'.repeat(255), credential: undefined }).kind).toBe('key')
  })
})

describe('fingerprintOf', () => {
  it('differs when the method, the target (query included) or the body differs', () => {
    const base = { method: 'POST', target: '/v1/sql/execute?x=1', body: Buffer.from('{"q":1}') }
    const fingerprint = fingerprintOf(base)
    expect(fingerprintOf({ ...base, method: 'post' })).toBe(fingerprint)
    for (const other of [
      { ...base, method: 'PUT' },
      { ...base, target: '/v1/sql/execute?x=2' },
      { ...base, target: '/v1/sql/execute' },
      { ...base, body: Buffer.from('{"q":2}') },
    ]) {
      expect(fingerprintOf(other)).not.toBe(fingerprint)
    }
  })
})
