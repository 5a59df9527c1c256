import { brotliCompressSync, gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { needsBody, priceAnswer, type Metering } from './metered.js'

const rows: Metering = {
  base: 1_000n,
  perUnit: 100n,
  units: { kind: 'json', path: ['result', 'metadata', 'row_count'] },
  bufferBytes: 1024,
}
const perMb: Metering = {
  base: 0n,
  perUnit: 10_000n,
  units: { kind: 'bytes', per: 1_000_000 },
  bufferBytes: 1024,
}
const header: Metering = {
  base: 5n,
  perUnit: 2n,
  units: { kind: 'header', name: 'x-rows' },
  bufferBytes: 1024,
}
const json = (value: unknown, complete = true) => ({
  headers: {},
  body: { bytes: Buffer.from(JSON.stringify(value)), complete },
})

describe('priceAnswer', () => {
  it('prices a JSON field: base + perUnit × units', () => {
    expect(priceAnswer(rows, 50_000n, json({ result: { metadata: { row_count: 7 } } }))).toEqual({
      amount: 1_700n,
      units: 7n,
      basis: 'units',
    })
    expect(priceAnswer(rows, 50_000n, json({ result: { metadata: { row_count: '0' } } }))).toEqual({
      amount: 1_000n,
      units: 0n,
      basis: 'units',
    })
  })

  it('reads the field of a compressed answer', () => {
    const text = JSON.stringify({ result: { metadata: { row_count: 9 } } })
    for (const [encoding, bytes] of [
      ['gzip', gzipSync(text)],
      ['br', brotliCompressSync(text)],
    ] as const) {
      const answer = { headers: { 'content-encoding': encoding }, body: { bytes, complete: true } }
      expect(priceAnswer(rows, 50_000n, answer)).toMatchObject({ amount: 1_900n, units: 9n })
    }
    const unknown = {
      headers: { 'content-encoding': 'zstd' },
      body: { bytes: Buffer.from(text), complete: true },
    }
    expect(priceAnswer(rows, 50_000n, unknown).basis).toBe('unreadable')
  })

  it('caps at the maximum', () => {
    expect(
      priceAnswer(rows, 50_000n, json({ result: { metadata: { row_count: 10_000 } } })),
    ).toEqual({
      amount: 50_000n,
      units: 10_000n,
      basis: 'capped',
    })
  })

  it('charges the maximum for units it cannot read', () => {
    for (const body of [
      { result: {} },
      { result: { metadata: { row_count: -1 } } },
      { result: { metadata: { row_count: 1.5 } } },
      { result: { metadata: { row_count: '12a' } } },
      { result: { metadata: { row_count: 2 ** 60 } } },
      [1, 2],
    ]) {
      expect(priceAnswer(rows, 50_000n, json(body))).toEqual({
        amount: 50_000n,
        units: undefined,
        basis: 'unreadable',
      })
    }
    const notJson = { headers: {}, body: { bytes: Buffer.from('{"result":'), complete: true } }
    expect(priceAnswer(rows, 50_000n, notJson).basis).toBe('unreadable')
    expect(priceAnswer(rows, 50_000n, json({ result: 1 }, false))).toEqual({
      amount: 50_000n,
      units: undefined,
      basis: 'over-buffer',
    })
  })

  it('prices bytes per started block, from Content-Length or the held body', () => {
    const at = (length: string) =>
      priceAnswer(perMb, 1_000_000n, { headers: { 'content-length': length } })
    expect(at('0')).toMatchObject({ amount: 0n, units: 0n })
    expect(at('1')).toMatchObject({ amount: 10_000n, units: 1n })
    expect(at('1000000')).toMatchObject({ amount: 10_000n, units: 1n })
    expect(at('1000001')).toMatchObject({ amount: 20_000n, units: 2n })
    const held = { headers: {}, body: { bytes: Buffer.alloc(2_500_000), complete: true } }
    expect(priceAnswer(perMb, 1_000_000n, held)).toMatchObject({ amount: 30_000n, units: 3n })
    const over = { headers: {}, body: { bytes: Buffer.alloc(10), complete: false } }
    expect(priceAnswer(perMb, 1_000_000n, over)).toMatchObject({
      amount: 1_000_000n,
      basis: 'over-buffer',
    })
  })

  it('prices a header', () => {
    expect(priceAnswer(header, 100n, { headers: { 'x-rows': ' 12 ' } })).toEqual({
      amount: 29n,
      units: 12n,
      basis: 'units',
    })
    expect(priceAnswer(header, 100n, { headers: {} }).basis).toBe('unreadable')
    expect(priceAnswer(header, 100n, { headers: { 'x-rows': ['1', '2'] } }).basis).toBe(
      'unreadable',
    )
  })
})

describe('needsBody', () => {
  it('holds the body only when the price is in it', () => {
    expect(needsBody(rows, { 'content-length': '10' })).toBe(true)
    expect(needsBody(perMb, { 'content-length': '10' })).toBe(false)
    expect(needsBody(perMb, {})).toBe(true)
    expect(needsBody(header, {})).toBe(false)
  })
})
