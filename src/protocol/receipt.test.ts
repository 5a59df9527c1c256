import { Receipt as MppxReceipt } from 'mppx'
import { describe, expect, it } from 'vitest'
import { encodeBase64url } from './base64url.js'
import { chargeReceipt, decodeReceipt, encodeReceipt, type SessionReceipt } from './receipt.js'

const channelId = '0xacb44c99628c13f4527a158b10ec1304b721b4422d630e047ec787d9a441bef8'
// wire-samples.md §5, "After open (raw)".
const openReceiptWire =
  'eyJtZXRob2QiOiJ0ZW1wbyIsImludGVudCI6InNlc3Npb24iLCJzdGF0dXMiOiJzdWNjZXNzIiwidGltZXN0YW1wIjoiMjAyNi0xMS0yMVQwOTowODo1Ni4yNzJaIiwicmVmZXJlbmNlIjoiMHhhY2I0NGM5OTYyOGMxM2Y0NTI3YTE1OGIxMGVjMTMwNGI3MjFiNDQyMmQ2MzBlMDQ3ZWM3ODdkOWE0NDFiZWY4IiwiY2hhbGxlbmdlSWQiOiJtaHZEU2dHU1YxMEY4QXBJZHlaaWVSVjVHSmpveHNaUUdxZDNjOU1LanI4IiwiY2hhbm5lbElkIjoiMHhhY2I0NGM5OTYyOGMxM2Y0NTI3YTE1OGIxMGVjMTMwNGI3MjFiNDQyMmQ2MzBlMDQ3ZWM3ODdkOWE0NDFiZWY4IiwiYWNjZXB0ZWRDdW11bGF0aXZlIjoiMTAwMDAiLCJzcGVudCI6IjEwMDAwIiwidW5pdHMiOjEsInR4SGFzaCI6IjB4YTFiNWFhYzlmZDJhY2UzYjc4ZDY1OWVjZjhjYjcwYTIwYWIwMzliZmJjMWVmMGE1NTBjNzBmN2I3NDczNGFlMSJ9'
const openReceipt: SessionReceipt = {
  method: 'tempo',
  intent: 'session',
  status: 'success',
  timestamp: '2026-11-21T09:08:56.272Z',
  reference: channelId,
  challengeId: 'mhvDSgGSV10F8ApIdyZieRV5GJjoxsZQGqd3c9MKjr8',
  channelId,
  acceptedCumulative: '10000',
  spent: '10000',
  units: 1,
  txHash: '0xa1b5aac9fd2ace3b78d659ecf8cb70a20ab039bfbc1ef0a550c70f7b74734ae1',
}
const keyOrder = [
  'method',
  'intent',
  'status',
  'timestamp',
  'reference',
  'challengeId',
  'channelId',
  'acceptedCumulative',
  'spent',
  'units',
  'txHash',
]

describe('encodeReceipt', () => {
  it('reproduces the mppx 0.11 open receipt byte for byte', () => {
    expect(encodeReceipt(openReceipt)).toBe(openReceiptWire)
  })

  it('writes keys in mppx order whatever order the receipt was built in', () => {
    const shuffled = Object.fromEntries(Object.entries(openReceipt).reverse()) as SessionReceipt
    expect(encodeReceipt(shuffled)).toBe(openReceiptWire)
    expect(Object.keys(decodeReceipt(encodeReceipt(shuffled)))).toEqual(keyOrder)
  })

  it('omits absent units and txHash (the voucher receipt of wire-samples.md §5)', () => {
    const voucher: SessionReceipt = {
      method: 'tempo',
      intent: 'session',
      status: 'success',
      timestamp: '2026-11-21T09:08:56.313Z',
      reference: channelId,
      challengeId: 'wyp1Er2ohrahgrMVPdmjlYOoHXyE5BKnmanacISv66M',
      channelId,
      acceptedCumulative: '20000',
      spent: '20000',
      units: 2,
    }
    const decoded = decodeReceipt(encodeReceipt(voucher))
    expect(decoded).toEqual(voucher)
    expect(Object.keys(decoded)).toEqual(keyOrder.slice(0, -1))
    const bare: SessionReceipt = { ...voucher }
    delete bare.units
    expect(Object.keys(decodeReceipt(encodeReceipt(bare)))).toEqual(keyOrder.slice(0, -2))
  })

  it('is base64url without padding, and mppx reads it', () => {
    const value = encodeReceipt(openReceipt)
    expect(value).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(MppxReceipt.deserialize(value)).toEqual(openReceipt)
  })
})

describe('decodeReceipt', () => {
  it('decodes the protocol.md §7.4 vector', () => {
    expect(
      decodeReceipt(
        'eyJzdGF0dXMiOiJzdWNjZXNzIiwibWV0aG9kIjoiaW52b2ljZSIsInRpbWVzdGFtcCI6IjIwMjUtMDEtMTVUMTI6MDA6MDBaIiwicmVmZXJlbmNlIjoiaW52XzEyMzQ1In0',
      ),
    ).toEqual({
      status: 'success',
      method: 'invoice',
      timestamp: '2025-01-15T12:00:00Z',
      reference: 'inv_12345',
    })
  })

  it('decodes the wire-sample open receipt', () => {
    expect(decodeReceipt(openReceiptWire)).toEqual(openReceipt)
  })

  it.each([
    ['not base64', 'a*b'],
    ['not JSON', encodeBase64url('nope')],
    ['an array', encodeBase64url('[]')],
    ['null', encodeBase64url('null')],
  ])('throws on %s', (_name, value) => {
    expect(() => decodeReceipt(value)).toThrow()
  })
})

describe('chargeReceipt', () => {
  it('names the payment transaction as the reference, and mppx reads it', () => {
    const value = chargeReceipt({
      txHash: `0x${'ab'.repeat(32)}`,
      challengeId: 'X6v1eo7fJ76gAxqY0xN9Jd__4lUyDDYmriryOM-5FO4',
      now: Date.parse('2026-01-02T03:04:05.000Z'),
    })
    expect(decodeReceipt(value)).toMatchInlineSnapshot(`
      {
        "challengeId": "X6v1eo7fJ76gAxqY0xN9Jd__4lUyDDYmriryOM-5FO4",
        "intent": "charge",
        "method": "tempo",
        "reference": "0xabababababababababababababababababababababababababababababababab",
        "status": "success",
        "timestamp": "2026-01-02T03:04:05.000Z",
      }
    `)
    expect(value).not.toContain('=')
    expect(MppxReceipt.deserialize(value)).toMatchObject({
      method: 'tempo',
      status: 'success',
      reference: `0x${'ab'.repeat(32)}`,
    })
  })
})
