/**
 * Money as the operator writes it: decimal strings in currency units ("0.05"), turned into
 * `bigint` base units of the currency ("0.05" with 6 decimals → 50000n).
 *
 * Why strings and not YAML numbers: a YAML number is a binary float, and 0.1 as a float is not one
 * tenth; a price that is off by one base unit charges every request wrongly. So amounts stay text
 * until they become integers, and no `number` ever holds an amount.
 *
 * Invariants: only canonical, non-negative decimals are accepted (no sign, exponent, leading zero,
 * blank, or separator); conversion is exact — it refuses an amount with more fraction digits than
 * the currency has rather than rounding it, and anything above what an escrow channel can hold.
 */

/** A non-negative decimal held exactly: its value is `digits / 10^scale`. */
export type ExactDecimal = {
  /** The amount as written, kept for display. */
  readonly text: string
  readonly digits: bigint
  /** Number of fraction digits as written ("0.050" has scale 3). */
  readonly scale: number
}

/** The outcome of reading or converting an amount: a value, or a problem worded for the operator. */
export type AmountResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string }

/** Largest amount a TIP-1034 channel can hold (deposits and vouchers are `uint96` on chain). */
export const maxChannelAmount = 2n ** 96n - 1n

const canonical = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/

/** Reads a decimal string such as "0.05" exactly. Never rounds, never goes through a float. */
export function parseDecimal(text: string): AmountResult<ExactDecimal> {
  const match = canonical.exec(text)
  if (match === null) return { ok: false, problem: whyNotDecimal(text) }
  const whole = match[1] ?? '0'
  const fraction = match[2] ?? ''
  return { ok: true, value: { text, digits: BigInt(whole + fraction), scale: fraction.length } }
}

/**
 * Converts an exact decimal to base units of a currency with `decimals` fraction digits.
 * Fails when the amount is finer than one base unit or larger than a channel can hold.
 */
export function toBaseUnits(decimal: ExactDecimal, decimals: number): AmountResult<bigint> {
  if (decimal.scale > decimals) {
    return {
      ok: false,
      problem:
        `has ${decimal.scale} fraction digits but the currency has ${decimals} decimals ` +
        `(the smallest amount is "${smallestAmount(decimals)}")`,
    }
  }
  const amount = decimal.digits * 10n ** BigInt(decimals - decimal.scale)
  if (amount > maxChannelAmount) {
    return { ok: false, problem: `is larger than a payment channel can hold (2^96 - 1 base units)` }
  }
  return { ok: true, value: amount }
}

function smallestAmount(decimals: number): string {
  return decimals === 0 ? '1' : `0.${'0'.repeat(decimals - 1)}1`
}

function whyNotDecimal(text: string): string {
  if (text.trim() === '') return 'is empty; write an amount such as "0.05"'
  if (text.trim().startsWith('-')) return 'must not be negative'
  if (/^[+-]?[0-9.]+[eE]/.test(text)) {
    return 'must not use exponent notation; write the digits out, e.g. "0.000001"'
  }
  if (/^0[0-9]/.test(text)) return 'must not have leading zeros'
  return 'must be a plain decimal such as "0.05": digits, optionally a "." and more digits'
}
