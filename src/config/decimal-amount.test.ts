import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { maxChannelAmount, parseDecimal, toBaseUnits } from './decimal-amount.js'

function baseUnits(text: string, decimals: number): bigint {
  const parsed = parseDecimal(text)
  if (!parsed.ok) throw new Error(`not a decimal: ${parsed.problem}`)
  const converted = toBaseUnits(parsed.value, decimals)
  if (!converted.ok) throw new Error(converted.problem)
  return converted.value
}

/** The oracle: scale by writing digits, not by multiplying. "1.5" at 6 decimals → "1500000". */
function scaledByText(whole: string, fraction: string, decimals: number): bigint {
  const digits = (whole + fraction.padEnd(decimals, '0')).replace(/^0+(?=.)/, '')
  return BigInt(digits)
}

describe('parseDecimal and toBaseUnits', () => {
  it.each([
    ['0.000001', 6, 1n],
    ['0.05', 6, 50_000n],
    ['1', 6, 1_000_000n],
    ['1.50', 6, 1_500_000n],
    ['0', 6, 0n],
    ['12345', 0, 12_345n],
    ['0.000000000000000001', 18, 1n],
  ])('%s with %i decimals is %s base units', (text, decimals, expected) => {
    expect(baseUnits(text, decimals)).toBe(expected)
  })

  it('refuses more fraction digits than the currency has, and names the smallest amount', () => {
    const parsed = parseDecimal('0.0000001')
    expect(parsed.ok).toBe(true)
    if (!parsed.ok) return
    const converted = toBaseUnits(parsed.value, 6)
    expect(converted.ok).toBe(false)
    expect(converted.ok ? '' : converted.problem).toBe(
      'has 7 fraction digits but the currency has 6 decimals (the smallest amount is "0.000001")',
    )
    // Trailing zeros are fraction digits as written: refused rather than silently dropped.
    expect(toBaseUnits(parsedOrThrow('1.0000000'), 6).ok).toBe(false)
  })

  it('refuses amounts larger than a channel can hold', () => {
    const justFits = parsedOrThrow(maxChannelAmount.toString())
    expect(toBaseUnits(justFits, 0)).toEqual({ ok: true, value: maxChannelAmount })
    const tooBig = parsedOrThrow((maxChannelAmount + 1n).toString())
    expect(toBaseUnits(tooBig, 0).ok).toBe(false)
  })

  it.each([
    ['-1', 'must not be negative'],
    ['1e-6', 'exponent notation'],
    ['1E3', 'exponent notation'],
    ['', 'is empty'],
    ['  ', 'is empty'],
    ['007', 'leading zeros'],
    ['.5', 'plain decimal'],
    ['5.', 'plain decimal'],
    ['+1', 'plain decimal'],
    ['1,000', 'plain decimal'],
    ['1_000', 'plain decimal'],
    [' 1', 'plain decimal'],
    ['0x10', 'plain decimal'],
    ['Infinity', 'plain decimal'],
    ['NaN', 'plain decimal'],
    ['１', 'plain decimal'],
  ])('refuses %j (%s)', (text, problem) => {
    const parsed = parseDecimal(text)
    expect(parsed.ok).toBe(false)
    expect(parsed.ok ? '' : parsed.problem).toContain(problem)
  })

  it('equals the exact scaled value for every decimal with at most `decimals` fraction digits', () => {
    const case_ = fc.integer({ min: 0, max: 18 }).chain((decimals) =>
      fc.record({
        decimals: fc.constant(decimals),
        whole: fc.stringMatching(/^(0|[1-9][0-9]{0,9})$/),
        fraction: fc.stringMatching(new RegExp(`^[0-9]{0,${decimals}}$`)),
      }),
    )
    fc.assert(
      fc.property(case_, ({ decimals, whole, fraction }) => {
        const text = fraction === '' ? whole : `${whole}.${fraction}`
        expect(baseUnits(text, decimals)).toBe(scaledByText(whole, fraction, decimals))
        expect(parsedOrThrow(text).text).toBe(text)
      }),
      { numRuns: 2000 },
    )
  })

  it('refuses every decimal with more fraction digits than `decimals`', () => {
    const case_ = fc.integer({ min: 0, max: 17 }).chain((decimals) =>
      fc.record({
        decimals: fc.constant(decimals),
        whole: fc.stringMatching(/^(0|[1-9][0-9]{0,5})$/),
        fraction: fc.stringMatching(new RegExp(`^[0-9]{${decimals + 1},${decimals + 4}}$`)),
      }),
    )
    fc.assert(
      fc.property(case_, ({ decimals, whole, fraction }) => {
        expect(toBaseUnits(parsedOrThrow(`${whole}.${fraction}`), decimals).ok).toBe(false)
      }),
    )
  })
})

function parsedOrThrow(text: string) {
  const parsed = parseDecimal(text)
  if (!parsed.ok) throw new Error(parsed.problem)
  return parsed.value
}
