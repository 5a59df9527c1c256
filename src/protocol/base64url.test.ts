import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeBase64url,
  decodeBase64urlJson,
  encodeBase64url,
  encodeBase64urlJson,
} from './base64url.js'

const bytes = (...values: number[]) => Uint8Array.from(values)

describe('encodeBase64url', () => {
  it('encodes strings as UTF-8 with the URL alphabet and no padding', () => {
    expect(encodeBase64url('hello world')).toBe('aGVsbG8gd29ybGQ')
    expect(encodeBase64url('{"amount":"1000000"}')).toBe('eyJhbW91bnQiOiIxMDAwMDAwIn0')
    expect(encodeBase64url('€')).toBe('4oKs')
    expect(encodeBase64url(bytes(0xfb, 0xff))).toBe('-_8')
    expect(encodeBase64url('')).toBe('')
  })

  it('encodes only the bytes a subarray views', () => {
    const whole = bytes(1, 2, 3, 0xfb, 0xff, 9)
    expect(encodeBase64url(whole.subarray(3, 5))).toBe('-_8')
  })
})

describe('decodeBase64url', () => {
  it('accepts unpadded, padded and standard-alphabet input', () => {
    expect(decodeBase64url('-_8')).toEqual(Buffer.from([0xfb, 0xff]))
    expect(decodeBase64url('-_8=')).toEqual(Buffer.from([0xfb, 0xff]))
    expect(decodeBase64url('+/8=')).toEqual(Buffer.from([0xfb, 0xff]))
    expect(decodeBase64url('+/8')).toEqual(Buffer.from([0xfb, 0xff]))
    expect(decodeBase64url('aGVsbG8gd29ybGQ=')).toEqual(Buffer.from('hello world'))
    expect(decodeBase64url('')).toEqual(Buffer.alloc(0))
  })

  it.each([
    ['a character outside both alphabets', 'ab*d'],
    ['whitespace', 'ab cd'],
    ['a trailing newline', 'abcd\n'],
    ['a non-ASCII character', 'abcé'],
    ['an impossible length', 'abcde'],
    ['padding in the middle', 'ab=c'],
    ['three padding characters', 'ab==='],
    ['padding that does not complete a group', 'abc=='],
    ['padding alone', '=='],
  ])('rejects %s', (_name, input) => {
    expect(() => decodeBase64url(input)).toThrow(/Invalid base64url/)
  })

  it('inverts encodeBase64url, and reads standard base64 of the same bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (data) => {
        expect(decodeBase64url(encodeBase64url(data))).toEqual(Buffer.from(data))
        expect(decodeBase64url(Buffer.from(data).toString('base64'))).toEqual(Buffer.from(data))
      }),
    )
  })
})

describe('base64url JSON helpers', () => {
  it('round-trips JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(decodeBase64urlJson(encodeBase64urlJson(value))).toEqual(
          JSON.parse(JSON.stringify(value)),
        )
      }),
    )
  })

  it('uses plain JSON.stringify order, not JCS', () => {
    expect(encodeBase64urlJson({ b: 1, a: 2 })).toBe(encodeBase64url('{"b":1,"a":2}'))
  })

  it('rejects values without a JSON form', () => {
    expect(() => encodeBase64urlJson(undefined)).toThrow(TypeError)
  })

  it('rejects invalid UTF-8, non-JSON and a byte-order mark', () => {
    expect(() => decodeBase64urlJson(encodeBase64url(bytes(0x7b, 0xff, 0x7d)))).toThrow(/UTF-8/)
    expect(() => decodeBase64urlJson(encodeBase64url('{nope'))).toThrow(SyntaxError)
    expect(() => decodeBase64urlJson(encodeBase64url('\ufeff{}'))).toThrow(SyntaxError)
  })
})
