import fc from 'fast-check'
import { Credential as MppxCredential } from 'mppx'
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors.js'
import { encodeBase64url, encodeBase64urlJson } from './base64url.js'
import {
  challengeKey,
  encodeChallengeRequest,
  issueChallenge,
  verifyChallengeId,
  type Challenge,
} from './challenge.js'
import { parseAuthorization, type Credential } from './credential.js'

const key = challengeKey('credential-test-secret-0123456789abcdef')
const requestJson = {
  amount: '10000',
  currency: '0x20c0000000000000000000000000000000000000',
  methodDetails: {
    chainId: 31337,
    escrowContract: '0x4d50500000000000000000000000000000000000',
    feeToken: '0x20c0000000000000000000000000000000000001',
    sessionProtocol: 'v2',
  },
  recipient: '0x86cEcD5206F46a7d740830D07e6d3BdaF14f0547',
  suggestedDeposit: '100000',
  unitType: 'request',
}
const issued = issueChallenge({
  key,
  fields: {
    realm: 'api.example.local',
    method: 'tempo',
    intent: 'session',
    request: encodeChallengeRequest(requestJson),
    expires: '2026-11-21T09:13:56.278Z',
  },
})
const source = 'did:pkh:eip155:31337:0xfaF2de0e3dAa3Da513ff55CC285A0bF2EFCF4555'
// The voucher credential of wire-samples.md §3, re-bound to a challenge issued with `key`.
const voucherPayload = {
  action: 'voucher',
  channelId: '0xacb44c99628c13f4527a158b10ec1304b721b4422d630e047ec787d9a441bef8',
  descriptor: {
    authorizedSigner: '0xfaF2de0e3dAa3Da513ff55CC285A0bF2EFCF4555',
    expiringNonceHash: '0x5b01e688ebf99ed0227dd77b258f44eadb8b11ca666e591ab7989f0d0d52dee3',
    operator: '0x0000000000000000000000000000000000000000',
    payee: '0x86cEcD5206F46a7d740830D07e6d3BdaF14f0547',
    payer: '0xfaF2de0e3dAa3Da513ff55CC285A0bF2EFCF4555',
    salt: '0x4af82c20777baef39fd53a6e0005ae0c45e7819692306726f6b5583e0aea33fc',
    token: '0x20c0000000000000000000000000000000000000',
  },
  cumulativeAmount: '20000',
  signature:
    '0x99e971db435e758ac9fd36564156468e7a2c7c3aa9017ea8f41a3f6220706597719e0a8bb37012b6f86fe0cc7b9729285a22e3f4e046cf18457a4cd1380720061c',
}

const header = (credential: unknown) => `Payment ${encodeBase64urlJson(credential)}`
const withChallenge = (change: Record<string, unknown>) =>
  header({ challenge: { ...issued, ...change }, payload: voucherPayload, source })

/** Runs `parse` and returns its GatewayError, failing on any other outcome. */
function parseError(value: string | string[], options?: { maxBytes?: number }): GatewayError {
  try {
    parseAuthorization(value, options)
  } catch (error) {
    if (error instanceof GatewayError) return error
    throw error
  }
  throw new Error('expected parseAuthorization to throw')
}

describe('parseAuthorization', () => {
  it('returns undefined when there is no Payment credential', () => {
    expect(parseAuthorization(undefined)).toBeUndefined()
    expect(parseAuthorization('')).toBeUndefined()
    expect(parseAuthorization('Bearer abc.def')).toBeUndefined()
    expect(parseAuthorization('Basic dXNlcjpwYXNz, Bearer x')).toBeUndefined()
    expect(parseAuthorization('Paymentx abc')).toBeUndefined()
  })

  it('parses the wire-sample voucher credential', () => {
    const credential = parseAuthorization(
      header({ challenge: issued, payload: voucherPayload, source }),
    )
    expect(credential).toEqual({
      challenge: { ...issued, requestJson },
      source,
      payload: voucherPayload,
    } satisfies Credential)
    expect(verifyChallengeId({ keys: [key], challenge: credential!.challenge })).toBe(true)
  })

  it('reads a credential serialized by mppx 0.11', () => {
    const value = MppxCredential.serialize({
      challenge: { ...issued, request: requestJson },
      payload: voucherPayload,
      source,
    })
    const credential = parseAuthorization(value)
    expect(credential?.challenge).toEqual({ ...issued, requestJson })
    expect(credential?.source).toBe(source)
    expect(verifyChallengeId({ keys: [key], challenge: credential!.challenge })).toBe(true)
  })

  it('reads a Payment credential alone, whatever the scheme case and surrounding space', () => {
    const first = header({ challenge: issued, payload: { n: 1 } })
    expect(parseAuthorization(first.replace('Payment', 'payment'))?.payload).toEqual({ n: 1 })
    expect(parseAuthorization(`  ${first}  `)?.payload).toEqual({ n: 1 })
    expect(parseAuthorization([first])?.payload).toEqual({ n: 1 })
  })

  it('refuses a Payment credential beside any other credential, in one line or several', () => {
    const first = header({ challenge: issued, payload: { n: 1 } })
    const second = header({ challenge: issued, payload: { n: 2 } })
    for (const fields of [
      [`Bearer x, ${first}`],
      [`${first}, Bearer x`],
      [`${first}, ${second}`],
      [`Digest username="a", realm="b", ${first}`],
      [first, 'Bearer x'],
      ['Bearer x', first],
      [first, first],
    ]) {
      expect(parseError(fields), fields.join(' | ')).toMatchObject({
        code: 'multiple-credentials',
        status: 400,
      })
    }
    // Other schemes side by side are not the gateway's business.
    expect(parseAuthorization(['Bearer x', 'Basic eDp5'])).toBeUndefined()
  })

  it('accepts padded and standard-alphabet tokens', () => {
    const json = JSON.stringify({ challenge: issued, payload: { a: '>>>???' } })
    const std = Buffer.from(json).toString('base64')
    expect(parseAuthorization(`Payment ${std}`)?.payload).toEqual({ a: '>>>???' })
  })

  it('omits source when absent and keeps optional challenge fields', () => {
    const full = {
      ...issued,
      description: 'd',
      digest: 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:',
      opaque: encodeChallengeRequest({ _mppx_scope: 'GET /api/data' }),
    }
    const credential = parseAuthorization(header({ challenge: full, payload: {} }))
    expect(credential).toEqual({ challenge: { ...full, requestJson }, payload: {} })
    expect(credential).not.toHaveProperty('source')
  })

  it('ignores unknown challenge fields and treats a __proto__ member as data', () => {
    const credential = parseAuthorization(withChallenge({ hint: 'X-Pay', extra: 1 }))
    expect(credential?.challenge).toEqual({ ...issued, requestJson })
    const bare = '{"challenge":{"__proto__":{"id":"x"}},"payload":{}}'
    expect(parseError(`Payment ${encodeBase64url(bare)}`).message).toMatch(/"id"/)
  })

  it('keeps the credential header a challenge named (it is bound into the id)', () => {
    const credential = parseAuthorization(withChallenge({ header: 'Payment-Authorization' }))
    expect(credential?.challenge.header).toBe('Payment-Authorization')
    expect(() => parseAuthorization(withChallenge({ header: 7 }))).toThrow(/"header"/)
  })

  it("re-encodes mppx's legacy object-valued opaque, so the id still verifies", () => {
    const scope = { _mppx_scope: 'GET /api/data' }
    const withOpaque = issueChallenge({
      key,
      fields: { ...issued, opaque: encodeChallengeRequest(scope) },
    })
    const credential = parseAuthorization(
      header({ challenge: { ...withOpaque, opaque: { ...scope } }, payload: {} }),
    )
    expect(credential?.challenge.opaque).toBe(withOpaque.opaque)
    expect(verifyChallengeId({ keys: [key], challenge: credential!.challenge })).toBe(true)
  })

  it.each<[string, string]>([
    ['an empty credential', 'Payment'],
    ['an empty credential followed by spaces', 'Payment   '],
    ['two tokens', 'Payment abc def'],
    ['a token that is not base64', 'Payment !!!!'],
    ['a token of an impossible length', 'Payment abcde'],
    ['a token that is not JSON', `Payment ${encodeBase64url('not json')}`],
    ['a token that is not UTF-8', `Payment ${encodeBase64url(Uint8Array.from([0x7b, 0xff]))}`],
    ['a JSON array', header([])],
    ['JSON null', header(null)],
    ['a missing challenge', header({ payload: {} })],
    ['a string challenge', header({ challenge: 'x', payload: {} })],
    ['a missing payload', header({ challenge: issued })],
    ['a string payload', header({ challenge: issued, payload: 'x' })],
    ['an array payload', header({ challenge: issued, payload: [] })],
    ['a null payload', header({ challenge: issued, payload: null })],
    ['a numeric source', header({ challenge: issued, payload: {}, source: 1 })],
    ['a null source', header({ challenge: issued, payload: {}, source: null })],
    ['a missing id', withChallenge({ id: undefined })],
    ['an empty id', withChallenge({ id: '' })],
    ['a missing realm', withChallenge({ realm: undefined })],
    ['a numeric realm', withChallenge({ realm: 1 })],
    ['a missing method', withChallenge({ method: undefined })],
    ['an uppercase method', withChallenge({ method: 'Tempo' })],
    ['a method with a space', withChallenge({ method: 'tempo x' })],
    ['a missing intent', withChallenge({ intent: undefined })],
    ['a missing request', withChallenge({ request: undefined })],
    ['an object request', withChallenge({ request: requestJson })],
    ['a request that is not base64', withChallenge({ request: 'a*b' })],
    ['a request that is not JSON', withChallenge({ request: encodeBase64url('{x') })],
    ['a request that is an array', withChallenge({ request: encodeBase64url('[]') })],
    ['a request that is a string', withChallenge({ request: encodeBase64url('"x"') })],
    ['a numeric expires', withChallenge({ expires: 1 })],
    ['a null digest', withChallenge({ digest: null })],
    ['an object description', withChallenge({ description: {} })],
    ['a numeric opaque', withChallenge({ opaque: 1 })],
    ['an opaque map with a number', withChallenge({ opaque: { a: 1 } })],
    ['an array opaque', withChallenge({ opaque: ['a'] })],
  ])('rejects %s as malformed-credential, without echoing it', (_name, value) => {
    const error = parseError(value)
    expect(error.code).toBe('malformed-credential')
    expect(error.status).toBe(402)
    const token = value.slice('Payment'.length).trim()
    if (token.length > 8) expect(error.message).not.toContain(token.slice(0, 8))
    expect(error.cause).toBeUndefined()
  })

  it('hands out the same frozen credential for the same bytes, and parses other bytes anew', () => {
    const value = header({ challenge: issued, payload: voucherPayload, source })
    const first = parseAuthorization(value)!
    const again = parseAuthorization(`  ${value}  `)!
    expect(again).toBe(first)
    expect(Object.isFrozen(first)).toBe(true)
    expect(Object.isFrozen(first.challenge)).toBe(true)
    expect(Object.isFrozen(first.payload)).toBe(true)
    expect(() => {
      ;(first.challenge as { id: string }).id = 'forged'
    }).toThrow(TypeError)
    const other = parseAuthorization(header({ challenge: issued, payload: { ...voucherPayload } }))
    expect(other).not.toBe(first)
    expect(other).toEqual({ challenge: first.challenge, payload: first.payload })
    // A malformed credential is refused every time, never remembered.
    const broken = `${value.slice(0, -4)}!!!!`
    expect(parseError(broken).code).toBe('malformed-credential')
    expect(parseError(broken).code).toBe('malformed-credential')
    // The size bound still applies to bytes seen before.
    expect(parseError(value, { maxBytes: 64 }).message).toMatch(/too large/)
  })

  it('rejects a credential over maxBytes before decoding it', () => {
    const value = header({ challenge: issued, payload: { pad: 'x'.repeat(20_000) } })
    expect(parseError(value).message).toMatch(/too large/)
    expect(parseError(header({ challenge: issued, payload: {} }), { maxBytes: 64 }).code).toBe(
      'malformed-credential',
    )
    expect(parseAuthorization(value, { maxBytes: 64 * 1024 })?.payload).toHaveProperty('pad')
  })
})

describe('parseAuthorization properties', () => {
  const outcomeIsAllowed = (value: string) => {
    try {
      const credential = parseAuthorization(value)
      if (credential !== undefined) {
        expect(typeof credential.challenge.id).toBe('string')
        expect(credential.challenge.requestJson).toBeTypeOf('object')
      }
    } catch (error) {
      expect(error).toBeInstanceOf(GatewayError)
      expect(['malformed-credential', 'multiple-credentials']).toContain(
        (error as GatewayError).code,
      )
    }
  }

  const jsonish = fc.oneof(
    fc.jsonValue(),
    fc.record({ challenge: fc.jsonValue(), payload: fc.jsonValue() }),
    fc.record(
      {
        challenge: fc.record(
          {
            id: fc.oneof(fc.string(), fc.jsonValue()),
            realm: fc.oneof(fc.string(), fc.jsonValue()),
            method: fc.oneof(fc.constantFrom('tempo', 'Tempo', ''), fc.jsonValue()),
            intent: fc.string(),
            request: fc.oneof(
              fc.jsonValue().map((v) => encodeBase64url(JSON.stringify(v))),
              fc.string(),
            ),
            opaque: fc.oneof(fc.string(), fc.jsonValue()),
            expires: fc.oneof(fc.string(), fc.jsonValue()),
          },
          { requiredKeys: [] },
        ),
        payload: fc.jsonValue(),
        source: fc.jsonValue(),
      },
      { requiredKeys: [] },
    ),
  )

  it('on arbitrary strings returns undefined or a Credential, or throws a credential problem', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), outcomeIsAllowed), { numRuns: 500 })
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => outcomeIsAllowed(`Payment ${s}`)),
      { numRuns: 500 },
    )
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9+/=_-]{0,64}$/), (s) =>
        outcomeIsAllowed(`Bearer x, Payment ${s}`),
      ),
    )
  })

  it('on base64url JSON of arbitrary shape does the same', () => {
    fc.assert(
      fc.property(jsonish, (value) => {
        outcomeIsAllowed(`Payment ${encodeBase64url(JSON.stringify(value) ?? 'null')}`)
      }),
      { numRuns: 1000 },
    )
  })

  it('returns exactly what was sent for well-formed credentials', () => {
    const text = fc.string({ unit: 'binary', maxLength: 20 })
    fc.assert(
      fc.property(
        fc.record({
          realm: text,
          intent: text,
          method: fc.stringMatching(/^[a-z][a-z0-9:_-]{0,10}$/),
          request: fc.dictionary(text, fc.jsonValue(), { maxKeys: 4 }),
          payload: fc.dictionary(text, fc.jsonValue(), { maxKeys: 4 }),
          expires: fc.option(text, { nil: undefined }),
          source: fc.option(text, { nil: undefined }),
        }),
        ({ request, payload, source: src, expires, ...rest }) => {
          const challenge: Challenge = {
            id: 'id',
            ...rest,
            request: encodeChallengeRequest(request),
            ...(expires === undefined ? {} : { expires }),
          }
          const sent = { challenge, payload, ...(src === undefined ? {} : { source: src }) }
          // Through JSON, -0 becomes 0: compare with what JSON can carry.
          const viaJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value))
          expect(parseAuthorization(header(sent))).toEqual({
            ...sent,
            payload: viaJson(payload),
            challenge: { ...challenge, requestJson: viaJson(request) },
          })
        },
      ),
    )
  })
})
