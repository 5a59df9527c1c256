import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { formatPaymentChallenge, parsePaymentChallenges, type AuthParam } from './auth-params.js'

describe('formatPaymentChallenge', () => {
  it('writes quoted params in order, joined by ", "', () => {
    expect(
      formatPaymentChallenge([
        ['id', 'abc'],
        ['realm', 'api.example.com'],
      ]),
    ).toBe('Payment id="abc", realm="api.example.com"')
  })

  it('escapes backslash and quote, and writes code units above U+00FF as \\uXXXX', () => {
    expect(formatPaymentChallenge([['description', 'say "hi" \\ ok']])).toBe(
      'Payment description="say \\"hi\\" \\\\ ok"',
    )
    expect(formatPaymentChallenge([['description', 'a — b']])).toBe(
      'Payment description="a \\u2014 b"',
    )
    expect(formatPaymentChallenge([['description', '😀']])).toBe(
      'Payment description="\\ud83d\\ude00"',
    )
    expect(formatPaymentChallenge([['description', 'café\tÿ']])).toBe(
      'Payment description="café\tÿ"',
    )
  })

  it('writes other control characters as \\u00XX so the header stays legal', () => {
    expect(formatPaymentChallenge([['description', 'a\u0000b\u007f']])).toBe(
      'Payment description="a\\u0000b\\u007f"',
    )
  })

  it.each([
    ['CR', 'a\rb'],
    ['LF', 'a\nb'],
    ['CRLF after an escaped char', '"\r\nInjected: 1'],
  ])('throws on %s in a value', (_name, value) => {
    expect(() => formatPaymentChallenge([['description', value]])).toThrow(/CR or LF/)
  })

  it.each(['', 'a b', 'a=b', 'a"', 'é'])('throws on the name %j', (name) => {
    expect(() => formatPaymentChallenge([[name, 'x']])).toThrow(/name/)
  })
})

describe('parsePaymentChallenges', () => {
  it('reads quoted and token values, with names lowercased', () => {
    expect(
      parsePaymentChallenges('Payment ID="a", Realm=api.example.com,intent = "charge"'),
    ).toEqual([{ id: 'a', realm: 'api.example.com', intent: 'charge' }])
  })

  it('matches the scheme name case-insensitively', () => {
    expect(parsePaymentChallenges('payment id="a"')).toEqual([{ id: 'a' }])
    expect(parsePaymentChallenges('PAYMENT id="a"')).toEqual([{ id: 'a' }])
  })

  it('unescapes \\", \\\\ and \\uXXXX; other escapes stand for the character itself', () => {
    expect(
      parsePaymentChallenges(
        'Payment a="say \\"hi\\" \\\\ ok", b="\\u2014\\ud83d\\ude00", c="\\x", d="\\\\u0041"',
      ),
    ).toEqual([{ a: 'say "hi" \\ ok', b: '—😀', c: 'x', d: '\\u0041' }])
  })

  it('rejects duplicate params, case-insensitively', () => {
    expect(() => parsePaymentChallenges('Payment id="a", ID="b"')).toThrow(/Duplicate/)
    expect(() => parsePaymentChallenges('Payment id="a", realm="r", id="a"')).toThrow(/Duplicate/)
  })

  it('splits two challenges in one value', () => {
    expect(
      parsePaymentChallenges(
        'Payment id="a", method="tempo", intent="session", Payment id="b", method="stripe"',
      ),
    ).toEqual([
      { id: 'a', method: 'tempo', intent: 'session' },
      { id: 'b', method: 'stripe' },
    ])
    expect(parsePaymentChallenges('Payment id=a,Payment id=b')).toEqual([{ id: 'a' }, { id: 'b' }])
  })

  it('does not split at Payment inside a quoted-string', () => {
    expect(
      parsePaymentChallenges(
        'Payment id="a", description="Pay, Payment id=\\"evil\\", now", realm="r"',
      ),
    ).toEqual([{ id: 'a', description: 'Pay, Payment id="evil", now', realm: 'r' }])
  })

  it('skips other schemes before, between and after', () => {
    expect(
      parsePaymentChallenges(
        'Bearer realm="api", Payment id="a", realm="x", Basic realm="b", Payment id="c"',
      ),
    ).toEqual([{ id: 'a', realm: 'x' }, { id: 'c' }])
    expect(parsePaymentChallenges('Bearer realm="Payment id", error="invalid_token"')).toEqual([])
    expect(parsePaymentChallenges('Paymentx id="a", xPayment id="b"')).toEqual([])
  })

  it('returns [] without a Payment challenge', () => {
    expect(parsePaymentChallenges('')).toEqual([])
    expect(parsePaymentChallenges('Payment')).toEqual([])
  })

  it.each([
    ['an unterminated quoted-string', 'Payment id="abc'],
    ['a trailing backslash', 'Payment id="abc\\'],
    ['a param without a name', 'Payment ="a"'],
    ['an empty token value', 'Payment id=, realm="r"'],
    ['a quote inside a token', 'Payment id=a"b"'],
  ])('throws on %s', (_name, header) => {
    expect(() => parsePaymentChallenges(header)).toThrow()
  })

  it('keeps names that are Object.prototype members as plain data', () => {
    const [params] = parsePaymentChallenges('Payment constructor="a", __proto__="b"')
    expect(Object.keys(params!)).toEqual(['constructor', '__proto__'])
    expect(params!['__proto__']).toBe('b')
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype)
  })
})

describe('format → parse round trip', () => {
  const specials = fc.constantFrom('"', '\\', ',', ' ', '\t', '=', 'u', 'Payment ', '\\u0041', 'é')
  const anyCodeUnitOrPoint = fc.oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }),
    specials,
  )
  const value = fc
    .string({ unit: anyCodeUnitOrPoint, maxLength: 40 })
    .filter((s) => !/[\r\n]/.test(s))
  const name = fc.stringMatching(/^[a-z0-9_-]{1,12}$/)
  const params = fc.uniqueArray(fc.tuple(name, value), {
    selector: ([key]) => key,
    maxLength: 8,
  })

  it('parse(format(params)) returns the params', () => {
    fc.assert(
      fc.property(params, (list: AuthParam[]) => {
        const header = formatPaymentChallenge(list)
        expect(header).toMatch(/^[\t\x20-\x7e\x80-\xff]*$/)
        expect(parsePaymentChallenges(header)).toEqual([Object.fromEntries(list)])
      }),
      { numRuns: 500 },
    )
  })

  it('keeps several challenges apart', () => {
    fc.assert(
      fc.property(fc.array(params, { minLength: 1, maxLength: 4 }), (lists) => {
        const header = lists.map((list) => formatPaymentChallenge(list)).join(', ')
        const expected = lists.map((list) => Object.fromEntries(list))
        expect(parsePaymentChallenges(header)).toEqual(expected)
      }),
    )
  })
})
