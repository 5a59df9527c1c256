import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { acceptedOffers, parseAcceptPayment, type PaymentKind } from './accept-payment.js'

const session = { method: 'tempo', intent: 'session' } as const
const charge = { method: 'tempo', intent: 'charge' } as const
const stripe = { method: 'stripe', intent: 'charge' } as const
const offers: readonly PaymentKind[] = [session, charge, stripe]

const pick = (header: string | undefined) =>
  acceptedOffers(offers, parseAcceptPayment(header)).map((o) => `${o.method}/${o.intent}`)

describe('parseAcceptPayment', () => {
  it('reads ranges with q-values in thousandths, names lower-cased', () => {
    expect(parseAcceptPayment('Tempo/Session, tempo/*;q=0.5, stripe/charge;q=0')).toEqual([
      { method: 'tempo', intent: 'session', q: 1000 },
      { method: 'tempo', intent: '*', q: 500 },
      { method: 'stripe', intent: 'charge', q: 0 },
    ])
    expect(parseAcceptPayment('*/*;q=0.125;foo=bar')).toEqual([
      { method: '*', intent: '*', q: 125 },
    ])
  })

  it('is undefined when absent or malformed (the header is then ignored)', () => {
    for (const bad of [
      undefined,
      '',
      ' , ',
      'tempo',
      'tempo/session;q=2',
      'tempo/session;q=0.1234',
      'tempo/session;q',
      'tempo/ses sion',
      '/session',
      'tempo/session, ???',
    ]) {
      expect(parseAcceptPayment(bad), String(bad)).toBeUndefined()
    }
  })
})

describe('acceptedOffers', () => {
  it('accepts everything in server order without a header, or with a malformed one', () => {
    expect(pick(undefined)).toEqual(['tempo/session', 'tempo/charge', 'stripe/charge'])
    expect(pick('tempo/session;q=7')).toEqual(['tempo/session', 'tempo/charge', 'stripe/charge'])
  })

  it('keeps q > 0 only, highest q first, ties in server order', () => {
    expect(pick('tempo/charge')).toEqual(['tempo/charge'])
    expect(pick('stripe/charge;q=0.9, tempo/*;q=0.5')).toEqual([
      'stripe/charge',
      'tempo/session',
      'tempo/charge',
    ])
    expect(pick('*/charge, tempo/session')).toEqual([
      'tempo/session',
      'tempo/charge',
      'stripe/charge',
    ])
  })

  it('lets the most specific range win, so an explicit q=0 opts out of a wildcard', () => {
    expect(pick('tempo/*, tempo/charge;q=0')).toEqual(['tempo/session'])
    expect(pick('*/*;q=0.1, tempo/session')).toEqual([
      'tempo/session',
      'tempo/charge',
      'stripe/charge',
    ])
    expect(pick('*/*;q=0, stripe/charge')).toEqual(['stripe/charge'])
  })

  it('accepts nothing when nothing matches', () => {
    expect(pick('lightning/charge')).toEqual([])
    expect(pick('tempo/*;q=0')).toEqual([])
  })

  it('returns each offer at most once, never one whose every exact range has q=0', () => {
    const range = fc.record({
      method: fc.constantFrom('tempo', 'stripe', '*'),
      intent: fc.constantFrom('session', 'charge', '*'),
      q: fc.integer({ min: 0, max: 1000 }),
    })
    fc.assert(
      fc.property(fc.array(range, { maxLength: 6 }), (ranges) => {
        const accepted = acceptedOffers(offers, ranges)
        expect(new Set(accepted).size).toBe(accepted.length)
        for (const offer of accepted) expect(offers).toContain(offer)
        const exact = (o: PaymentKind) =>
          ranges.filter((r) => r.method === o.method && r.intent === o.intent)
        for (const offer of offers) {
          const named = exact(offer)
          if (named.length > 0 && named.every((r) => r.q === 0)) {
            expect(accepted).not.toContain(offer)
          }
        }
      }),
    )
  })
})
