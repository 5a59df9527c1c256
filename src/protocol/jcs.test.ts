import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalize } from './jcs.js'

describe('canonicalize', () => {
  it('sorts keys recursively, inside arrays too', () => {
    expect(canonicalize({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
    )
    expect(
      canonicalize({ methodDetails: { chainId: 42431 }, currency: '0x1234', amount: '1000000' }),
    ).toBe('{"amount":"1000000","currency":"0x1234","methodDetails":{"chainId":42431}}')
  })

  it('drops undefined members', () => {
    expect(canonicalize({ a: 1, b: undefined, c: { d: undefined } })).toBe('{"a":1,"c":{}}')
  })

  it('sorts keys by UTF-16 code units (RFC 8785 §3.2.3 example)', () => {
    const keys = ['\u20ac', '\r', '\ufb33', '1', '\ud83d\ude00', '\u0080', '\u00f6']
    const input = Object.fromEntries(keys.map((key) => [key, key]))
    // Compare text: Object.keys would list the integer-like key "1" first whatever the order.
    const order = ['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33']
    const expected = order.map((key) => `${JSON.stringify(key)}:${JSON.stringify(key)}`)
    expect(canonicalize(input)).toBe(`{${expected.join(',')}}`)
  })

  it.each([
    [333333333.3333333, '333333333.3333333'],
    [1e30, '1e+30'],
    [4.5, '4.5'],
    [0.002, '0.002'],
    [1e-27, '1e-27'],
    [-0, '0'],
    [1, '1'],
    [0.1 + 0.2, '0.30000000000000004'],
    [9007199254740992, '9007199254740992'],
    [5e-324, '5e-324'],
    [-1.7976931348623157e308, '-1.7976931348623157e+308'],
  ])('writes %s in ECMAScript shortest form', (value, text) => {
    expect(canonicalize(value)).toBe(text)
  })

  it('escapes strings like JSON.stringify (RFC 8785 §3.2.2.2 example)', () => {
    expect(canonicalize('\u20ac$\u000F\u000aA\'\u0042\u0022\u005c\\"/')).toBe(
      '"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"',
    )
  })

  it('writes literals', () => {
    expect(canonicalize([null, true, false, '', [], {}])).toBe('[null,true,false,"",[],{}]')
  })

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a nested -Infinity', { a: [Number.NEGATIVE_INFINITY] }],
    ['a bigint', { a: 1n }],
    ['a function', { a: () => 1 }],
    ['a symbol', Symbol('x')],
    ['undefined at the top', undefined],
    ['undefined in an array', [1, undefined]],
    ['a Date', { at: new Date(0) }],
    ['a Map', new Map()],
    ['a byte array', new Uint8Array(1)],
  ])('rejects %s', (_name, value) => {
    expect(() => canonicalize(value)).toThrow(TypeError)
  })

  it('produces JSON equal to the input, sorted, and is idempotent', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalize(value)
        const parsed: unknown = JSON.parse(text)
        expect(parsed).toEqual(JSON.parse(JSON.stringify(value)))
        expect(canonicalize(parsed)).toBe(text)
      }),
    )
  })

  it('does not depend on key insertion order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 8 }), (record) => {
        const reversed = Object.fromEntries(Object.entries(record).reverse())
        expect(canonicalize(reversed)).toBe(canonicalize(record))
      }),
    )
  })
})
