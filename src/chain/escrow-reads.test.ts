import fc from 'fast-check'
import {
  BaseError,
  decodeFunctionResult,
  encodeFunctionData,
  encodeFunctionResult,
  type Hex,
} from 'viem'
import { describe, expect, it } from 'vitest'
import { escrowAbi } from './escrow-abi.js'
import { decodeStatesBatch, encodeStatesBatchCall } from './escrow-reads.js'

const channelId = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b): Hex => `0x${Buffer.from(b).toString('hex')}`)
const state = fc.record({
  settled: fc.bigInt({ min: 0n, max: (1n << 96n) - 1n }),
  deposit: fc.bigInt({ min: 0n, max: (1n << 96n) - 1n }),
  closeRequestedAt: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
})

const answerOf = (
  states: readonly { settled: bigint; deposit: bigint; closeRequestedAt: number }[],
) => encodeFunctionResult({ abi: escrowAbi, functionName: 'getChannelStatesBatch', result: states })

describe('getChannelStatesBatch', () => {
  it('is called with the bytes viem encodes', () => {
    fc.assert(
      fc.property(fc.array(channelId, { maxLength: 20 }), (ids) => {
        expect(encodeStatesBatchCall(ids)).toBe(
          encodeFunctionData({
            abi: escrowAbi,
            functionName: 'getChannelStatesBatch',
            args: [ids],
          }),
        )
      }),
    )
    expect(() => encodeStatesBatchCall(['0x1234'])).toThrow(/32 bytes/)
  })

  it('decodes to the states viem decodes', () => {
    fc.assert(
      fc.property(fc.array(state, { maxLength: 20 }), (states) => {
        const answer = answerOf(states)
        const viem = decodeFunctionResult({
          abi: escrowAbi,
          functionName: 'getChannelStatesBatch',
          data: answer,
        })
        expect(decodeStatesBatch(answer, states.length)).toEqual(
          viem.map((s) => ({
            settled: s.settled,
            deposit: s.deposit,
            closeRequestedAt: s.closeRequestedAt,
          })),
        )
      }),
    )
  })

  it("refuses an answer that does not fit the call, with viem's error class", () => {
    const answer = answerOf([{ settled: 1n, deposit: 2n, closeRequestedAt: 3 }])
    const bad: [unknown, number, RegExp][] = [
      ['0x', 1, /too little data/],
      [undefined, 1, /no hex data/],
      ['0xzz', 1, /no hex data/],
      [answer, 2, /1 states for 2 channels/],
      [answer.slice(0, -64), 1, /too little data/],
    ]
    for (const [result, count, message] of bad) {
      expect(() => decodeStatesBatch(result, count)).toThrow(message)
      expect(() => decodeStatesBatch(result, count)).toThrow(BaseError)
    }
  })
})
