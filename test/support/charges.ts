/**
 * The check every racing-requests test makes: answers are only 200 or 402, at least one was
 * served, `spent` grew by exactly the served answers times the price, every served answer reached
 * the upstream once, and each receipt's accepted voucher covers its spent amount.
 */
import { expect } from 'vitest'
import type { ChannelRecord } from '../../src/ledger/port.js'
import { decodeReceipt } from '../../src/protocol/receipt.js'

export type Answer = { status: number; receipt: string | null }

export function expectExactCharges(options: {
  answers: readonly Answer[]
  /** The channel after the race; it had `start` spent and one unit before it. */
  record: ChannelRecord
  start: bigint
  price: bigint
  /** Requests the upstream received during the race. */
  forwarded: number
}): void {
  const served = options.answers.filter((a) => a.status === 200)
  for (const a of options.answers) expect([200, 402]).toContain(a.status)
  expect(served.length).toBeGreaterThan(0)
  expect(options.record.spent).toBe(options.start + BigInt(served.length) * options.price)
  expect(options.record.units).toBe(1 + served.length)
  expect(options.record.accepted.cumulative).toBeGreaterThanOrEqual(options.record.spent)
  expect(options.forwarded).toBe(served.length)
  for (const a of served) {
    const receipt = decodeReceipt(a.receipt!)
    expect(BigInt(receipt.acceptedCumulative as string)).toBeGreaterThanOrEqual(
      BigInt(receipt.spent as string),
    )
  }
}
