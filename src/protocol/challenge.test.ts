import { Challenge as MppxChallenge } from 'mppx'
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors.js'
import { parsePaymentChallenges } from './auth-params.js'
import { encodeBase64url } from './base64url.js'
import {
  challengeKey,
  challengeMac,
  echoedChallengeMac,
  encodeChallengeRequest,
  formatChallenge,
  issueChallenge,
  verifyChallengeId,
  type Challenge,
  type ChallengeFields,
} from './challenge.js'

const vectorKey = challengeKey('test-vector-secret')
const vectorBase: ChallengeFields = {
  realm: 'api.example.com',
  method: 'tempo',
  intent: 'charge',
  request: 'eyJhbW91bnQiOiIxMDAwMDAwIn0',
}
const vectorDigest = 'sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE'

describe('challengeMac: protocol.md §7.1 vectors', () => {
  it('encodes the vector request as b64url(JCS) without padding', () => {
    expect(encodeChallengeRequest({ amount: '1000000' })).toBe(vectorBase.request)
  })

  it.each<[string, Partial<ChallengeFields>, string]>([
    ['plain', {}, 'X6v1eo7fJ76gAxqY0xN9Jd__4lUyDDYmriryOM-5FO4'],
    [
      'with expires',
      { expires: '2025-01-06T12:00:00Z' },
      'ChPX33RkKSZoSUyZcu8ai4hhkvjZJFkZVnvWs5s0iXI',
    ],
    ['with digest', { digest: vectorDigest }, 'JHB7EFsPVb-xsYCo8LHcOzeX1gfXWVoUSzQsZhKAfKM'],
    [
      'with expires and digest',
      { expires: '2025-01-06T12:00:00Z', digest: vectorDigest },
      'm39jbWWCIfmfJZSwCfvKFFtBl0Qwf9X4nOmDb21peLA',
    ],
    [
      'with opaque {"pi":"pi_3abc123XYZ"}',
      { opaque: encodeChallengeRequest({ pi: 'pi_3abc123XYZ' }) },
      'rxzKZ2qjXvinqCH96RORTZEPs1KXsA-0AUjrCAPFOWc',
    ],
    ['with opaque {}', { opaque: 'e30' }, 'vb4IyH-0LdJ3s7L0QAw8jIzcZkyxksPhIvEfmHmzA9k'],
    [
      'with a description (not bound)',
      { description: 'One API call' },
      'X6v1eo7fJ76gAxqY0xN9Jd__4lUyDDYmriryOM-5FO4',
    ],
    [
      'with a nested request',
      {
        request: encodeChallengeRequest({
          amount: '1000000',
          currency: '0x1234',
          methodDetails: { chainId: 42431 },
        }),
      },
      'TqujwpuDDg_zsWGINAd5XObO2rRe6uYufpqvtDmr6N8',
    ],
    [
      'with request {}',
      { request: encodeChallengeRequest({}) },
      'yLN7yChAejW9WNmb54HpJIWpdb1WWXeA3_aCx4dxmkU',
    ],
    ['with intent session', { intent: 'session' }, 'aAY7_IEDzsznNYplhOSE8cERQxvjFcT4Lcn-7FHjLVE'],
  ])('%s', (_name, extra, id) => {
    const fields = { ...vectorBase, ...extra }
    expect(challengeMac(vectorKey, fields)).toBe(id)
    expect(echoedChallengeMac(vectorKey, fields)).toBe(id)
    expect(issueChallenge({ key: vectorKey, fields }).id).toBe(id)
  })
})

describe('echoedChallengeMac', () => {
  const plainId = 'X6v1eo7fJ76gAxqY0xN9Jd__4lUyDDYmriryOM-5FO4'

  it.each([
    ['with whitespace', encodeBase64url('{ "amount": "1000000" }')],
    ['padded standard base64', Buffer.from('{"amount" :"1000000"}').toString('base64')],
  ])('re-canonicalizes a non-canonical request (%s), as mppx does', (_name, request) => {
    const fields = { ...vectorBase, request }
    expect(echoedChallengeMac(vectorKey, fields)).toBe(plainId)
    expect(challengeMac(vectorKey, fields)).not.toBe(plainId)
  })

  it('re-canonicalizes opaque', () => {
    const fields = { ...vectorBase, opaque: encodeBase64url('{ "pi" : "pi_3abc123XYZ" }') }
    expect(echoedChallengeMac(vectorKey, fields)).toBe(
      'rxzKZ2qjXvinqCH96RORTZEPs1KXsA-0AUjrCAPFOWc',
    )
  })

  it('binds the decoded request when one is given', () => {
    const fields = { ...vectorBase, request: 'e30', requestJson: { amount: '1000000' } }
    expect(echoedChallengeMac(vectorKey, fields)).toBe(plainId)
  })

  it.each<[string, Partial<ChallengeFields> & { requestJson?: unknown }]>([
    ['a request that is not base64', { request: 'not base64!' }],
    ['a request that is not JSON', { request: encodeBase64url('{nope') }],
    ['an opaque that is not JSON', { opaque: encodeBase64url('nope') }],
    ['a request nested beyond the stack', { request: 'e30', requestJson: deeplyNested() }],
  ])('throws malformed-credential for %s', (_name, extra) => {
    const fields = { ...vectorBase, ...extra }
    expect(() => echoedChallengeMac(vectorKey, fields)).toThrow(GatewayError)
    try {
      echoedChallengeMac(vectorKey, fields)
    } catch (error) {
      expect((error as GatewayError).code).toBe('malformed-credential')
    }
  })
})

describe('issueChallenge', () => {
  it('returns the fields with their id first', () => {
    const fields = { ...vectorBase, expires: '2025-01-06T12:00:00Z' }
    const challenge = issueChallenge({ key: vectorKey, fields })
    expect(challenge).toEqual({ id: 'ChPX33RkKSZoSUyZcu8ai4hhkvjZJFkZVnvWs5s0iXI', ...fields })
    expect(Object.keys(challenge)[0]).toBe('id')
  })

  it.each(['realm', 'method', 'intent', 'request', 'expires', 'digest', 'opaque'] as const)(
    'refuses a "|" in %s, which would make the binding ambiguous',
    (name) => {
      const fields = { ...vectorBase, [name]: 'a|b' }
      expect(() => issueChallenge({ key: vectorKey, fields })).toThrow(/\|/)
    },
  )

  it('never lets a stray id or extra property on the fields through', () => {
    const fields = { ...vectorBase, id: 'forged', extra: 'x' }
    const challenge = issueChallenge({ key: vectorKey, fields })
    expect(challenge).toEqual({ id: 'X6v1eo7fJ76gAxqY0xN9Jd__4lUyDDYmriryOM-5FO4', ...vectorBase })
  })

  it('allows a "|" in the unbound description', () => {
    const fields = { ...vectorBase, description: 'a|b' }
    expect(issueChallenge({ key: vectorKey, fields }).description).toBe('a|b')
  })
})

describe('verifyChallengeId', () => {
  const current = challengeKey('current-secret-0123456789abcdef0123')
  const previous = challengeKey('previous-secret-0123456789abcdef012')
  const other = challengeKey('other-secret-0123456789abcdef0123456')
  const issued = issueChallenge({
    key: current,
    fields: {
      realm: 'api.example.local',
      method: 'tempo',
      intent: 'session',
      request: encodeChallengeRequest({ amount: '10000', unitType: 'request' }),
      expires: '2026-11-21T09:13:56.129Z',
      opaque: encodeChallengeRequest({ _mppx_scope: 'GET /api/data' }),
    },
  })
  const verify = (challenge: Challenge, keys: readonly Buffer[] = [current, previous]) =>
    verifyChallengeId({ keys, challenge })

  it('accepts a challenge issued under the current key', () => {
    expect(verify(issued)).toBe(true)
    expect(verify(issued, [current])).toBe(true)
  })

  it('accepts a challenge issued under a previous key kept for rotation', () => {
    const old = issueChallenge({ key: previous, fields: issued })
    expect(verify(old)).toBe(true)
    expect(verify(old, [current])).toBe(false)
  })

  it('accepts an echoed request that is only re-encoded', () => {
    const request = encodeBase64url('{"unitType":"request", "amount":"10000"}')
    expect(verify({ ...issued, request })).toBe(true)
  })

  it.each<[string, { [K in keyof Challenge]?: Challenge[K] | undefined }]>([
    [
      'a tampered request',
      { request: encodeChallengeRequest({ amount: '1', unitType: 'request' }) },
    ],
    ['another realm', { realm: 'evil.example' }],
    ['another method', { method: 'stripe' }],
    ['another intent', { intent: 'charge' }],
    ['a later expires', { expires: '2099-01-01T00:00:00.000Z' }],
    ['expires moved to the digest slot', { expires: undefined, digest: issued.expires! }],
    ['a removed opaque', { opaque: undefined }],
    ['another opaque', { opaque: encodeChallengeRequest({ _mppx_scope: 'POST /x' }) }],
    ['an added digest', { digest: 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:' }],
    ['an id of another length', { id: `${issued.id}A` }],
    ['an empty id', { id: '' }],
  ])('rejects %s', (_name, change) => {
    const tampered = { ...issued, ...change } as Challenge
    for (const key of Object.keys(change) as (keyof Challenge)[]) {
      if (change[key] === undefined) delete tampered[key]
    }
    expect(verify(tampered)).toBe(false)
  })

  it('rejects a challenge issued under another secret, and any challenge without keys', () => {
    expect(verify(issueChallenge({ key: other, fields: issued }))).toBe(false)
    expect(verify(issued, [])).toBe(false)
  })

  it('ignores the description', () => {
    expect(verify({ ...issued, description: 'changed' })).toBe(true)
  })
})

describe('formatChallenge', () => {
  const fixed = issueChallenge({
    key: challengeKey('snapshot-secret-0123456789abcdef01234'),
    fields: {
      realm: 'api.example.local',
      method: 'tempo',
      intent: 'session',
      request: encodeChallengeRequest({
        amount: '10000',
        currency: '0x20c0000000000000000000000000000000000000',
        methodDetails: { chainId: 31337, sessionProtocol: 'v2' },
        recipient: '0x86cEcD5206F46a7d740830D07e6d3BdaF14f0547',
        unitType: 'request',
      }),
      expires: '2026-11-21T09:13:56.129Z',
      digest: 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:',
      opaque: encodeChallengeRequest({ _mppx_scope: 'GET /api/data' }),
      description: 'Data API — "per request"',
    },
  })

  it('pins the exact WWW-Authenticate value', () => {
    expect(formatChallenge(fixed)).toMatchInlineSnapshot(
      `"Payment id="cUhWh5-S6cQZedW4dMOP3mNCzfOEJ-e1AvUOAbKa3Go", realm="api.example.local", method="tempo", intent="session", request="eyJhbW91bnQiOiIxMDAwMCIsImN1cnJlbmN5IjoiMHgyMGMwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwIiwibWV0aG9kRGV0YWlscyI6eyJjaGFpbklkIjozMTMzNywic2Vzc2lvblByb3RvY29sIjoidjIifSwicmVjaXBpZW50IjoiMHg4NmNFY0Q1MjA2RjQ2YTdkNzQwODMwRDA3ZTZkM0JkYUYxNGYwNTQ3IiwidW5pdFR5cGUiOiJyZXF1ZXN0In0", description="Data API \\u2014 \\"per request\\"", digest="sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", expires="2026-11-21T09:13:56.129Z", opaque="eyJfbXBweF9zY29wZSI6IkdFVCAvYXBpL2RhdGEifQ""`,
    )
  })

  it('omits absent optional params', () => {
    const { id, realm, method, intent, request } = fixed
    expect(formatChallenge({ id, realm, method, intent, request })).toBe(
      `Payment id="${id}", realm="api.example.local", method="tempo", intent="session", request="${request}"`,
    )
  })

  it('parses back to the same challenge', () => {
    expect(parsePaymentChallenges(formatChallenge(fixed))).toEqual([fixed])
  })

  it('throws on CR or LF in a value', () => {
    expect(() => formatChallenge({ ...fixed, description: 'a\r\nb' })).toThrow(/CR or LF/)
  })
})

describe('interop with mppx 0.11', () => {
  const secret = 'interop-secret-0123456789abcdef012345'
  const request = { amount: '10000', currency: '0x20c0', methodDetails: { chainId: 31337 } }

  it('mppx parses and verifies a challenge issued here', () => {
    const issued = issueChallenge({
      key: challengeKey(secret),
      fields: {
        realm: 'api.example.local',
        method: 'tempo',
        intent: 'session',
        request: encodeChallengeRequest(request),
        expires: '2026-11-21T09:13:56.129Z',
        opaque: encodeChallengeRequest({ _mppx_scope: 'GET /api/data' }),
        description: 'Café — ☕ "quoted" \\ path',
      },
    })
    const parsed = MppxChallenge.deserialize(formatChallenge(issued))
    expect(parsed.id).toBe(issued.id)
    expect(parsed.description).toBe(issued.description)
    expect(parsed.request).toEqual(request)
    expect(MppxChallenge.verify(parsed, { secretKey: secret })).toBe(true)
  })

  it('verifies a challenge mppx issued, parsed from its header', () => {
    const mppx = MppxChallenge.from({
      secretKey: secret,
      realm: 'api.example.local',
      method: 'tempo',
      intent: 'session',
      request,
      expires: '2026-11-21T09:13:56.129Z',
      meta: { _mppx_scope: 'GET /api/data' },
      description: 'Données — "x"',
    })
    const [params] = parsePaymentChallenges(MppxChallenge.serialize(mppx))
    const challenge = params as Challenge
    expect(challenge.id).toBe(mppx.id)
    expect(challenge.description).toBe('Données — "x"')
    expect(verifyChallengeId({ keys: [challengeKey(secret)], challenge })).toBe(true)
    expect(challengeMac(challengeKey(secret), challenge)).toBe(mppx.id)
  })
})

describe('the credential header parameter (mppx 0.11 requiresAuth)', () => {
  const secret = 'interop-secret-0123456789abcdef012345'
  const request = { amount: '10000', currency: '0x20c0', methodDetails: { chainId: 31337 } }
  const fields = {
    realm: 'api.example.local',
    method: 'tempo',
    intent: 'session',
    request: encodeChallengeRequest(request),
    expires: '2026-11-21T09:13:56.129Z',
    opaque: encodeChallengeRequest({ _mppx_scope: 'GET /api/data' }),
  }

  it('is bound in a slot before opaque, sent after expires, and verified by mppx', () => {
    const issued = issueChallenge({
      key: challengeKey(secret),
      fields: { ...fields, header: 'Payment-Authorization' },
    })
    const plain = issueChallenge({ key: challengeKey(secret), fields })
    expect(issued.id).not.toBe(plain.id)
    const header = formatChallenge(issued)
    expect(header).toMatch(/expires="[^"]+", header="Payment-Authorization", opaque="/)
    const parsed = MppxChallenge.deserialize(header)
    expect(parsed.header).toBe('Payment-Authorization')
    expect(MppxChallenge.verify(parsed, { secretKey: secret })).toBe(true)
    expect(MppxChallenge.verify({ ...parsed, header: 'X-Other' }, { secretKey: secret })).toBe(
      false,
    )
  })

  it('verifies a challenge mppx issued with a header, and refuses it without the header', () => {
    const mppx = MppxChallenge.from({
      secretKey: secret,
      realm: fields.realm,
      method: 'tempo',
      intent: 'session',
      request,
      expires: fields.expires,
      header: 'Payment-Authorization',
    })
    const [params] = parsePaymentChallenges(MppxChallenge.serialize(mppx))
    const challenge = params as Challenge
    expect(challenge.header).toBe('Payment-Authorization')
    expect(verifyChallengeId({ keys: [challengeKey(secret)], challenge })).toBe(true)
    const without: Challenge = { ...challenge }
    delete without.header
    expect(verifyChallengeId({ keys: [challengeKey(secret)], challenge: without })).toBe(false)
  })

  it('treats Authorization (any case) as no header at all', () => {
    const issued = issueChallenge({
      key: challengeKey(secret),
      fields: { ...fields, header: 'authorization' },
    })
    expect(issued.header).toBeUndefined()
    expect(issued.id).toBe(issueChallenge({ key: challengeKey(secret), fields }).id)
    expect(formatChallenge(issued)).not.toContain('header=')
  })
})

function deeplyNested(): unknown {
  let value: unknown = 0
  for (let i = 0; i < 100_000; i++) value = [value]
  return { a: value }
}
