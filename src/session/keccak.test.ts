import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { keccak256Bytes, keccak256BytesJs, keccakBackend } from './keccak.js'

describe('keccak-256', () => {
  it('uses the native implementation on this platform', () => {
    expect(keccakBackend).toBe('native')
  })

  it('matches the pure-JS implementation on any input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        expect(Buffer.from(keccak256Bytes(data)).toString('hex')).toBe(
          Buffer.from(keccak256BytesJs(data)).toString('hex'),
        )
      }),
    )
  })

  it('hashes the empty string to the known value', () => {
    expect(Buffer.from(keccak256Bytes(new Uint8Array())).toString('hex')).toBe(
      'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470',
    )
  })
})
