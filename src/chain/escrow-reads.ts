/**
 * The escrow's batch state read (`getChannelStatesBatch(bytes32[])`), encoded and decoded by hand.
 *
 * Why not viem's `readContract`: on a Tempo chain its request goes through the chain's request
 * formatter, which, to tell a Tempo transaction from others, builds (and throws away) an error
 * with a stack trace for every plain call, and the generic ABI coder walks the result item by
 * item; profiled on a settle-all, that cost more than the settlements' own reads. The answer is
 * a dynamic array of static tuples — an offset word, a length word, then three words per channel
 * (settled, deposit, closeRequestedAt) — so decoding is slicing words. The results equal
 * viem's (escrow-reads.test.ts); an answer of the wrong shape throws viem's `BaseError`, as
 * `readContract` threw one of its subclasses, so callers classify failures as before.
 */
import { BaseError, toFunctionSelector, type AbiFunction, type Hex } from 'viem'
import type { ChainState } from '../ledger/port.js'
import { escrowAbi } from './escrow-abi.js'

const selector = toFunctionSelector(
  escrowAbi.find(
    (item) => item.type === 'function' && item.name === 'getChannelStatesBatch',
  ) as AbiFunction,
).slice(2)

const word = (value: number) => value.toString(16).padStart(64, '0')
const bytes32Pattern = /^0x[0-9a-fA-F]{64}$/

/** Call data of `getChannelStatesBatch(channelIds)`. */
export function encodeStatesBatchCall(channelIds: readonly Hex[]): Hex {
  const ids = channelIds.map((id) => {
    if (!bytes32Pattern.test(id))
      throw new Error('getChannelStatesBatch: a channel id is not 32 bytes')
    return id.slice(2).toLowerCase()
  })
  return `0x${selector}${word(32)}${word(ids.length)}${ids.join('')}`
}

/** The states in a `getChannelStatesBatch` answer for `count` channels, in order. */
export function decodeStatesBatch(result: unknown, count: number): ChainState[] {
  const fail = (why: string) => new BaseError(`getChannelStatesBatch answered ${why}`)
  if (typeof result !== 'string' || !/^0x[0-9a-fA-F]*$/.test(result)) throw fail('no hex data')
  const at = (index: number) => result.slice(2 + 64 * index, 2 + 64 * (index + 1))
  if (result.length < 2 + 64 * 2) throw fail('too little data')
  const offset = Number.parseInt(at(0), 16)
  if (offset % 32 !== 0) throw fail('a misaligned array')
  const head = offset / 32
  if (result.length < 2 + 64 * (head + 1)) throw fail('too little data')
  const length = Number.parseInt(at(head), 16)
  if (length !== count) throw fail(`${length} states for ${count} channels`)
  if (result.length < 2 + 64 * (head + 1 + 3 * count)) throw fail('too little data')
  const states: ChainState[] = []
  for (let i = 0; i < count; i++) {
    const first = head + 1 + 3 * i
    states.push({
      settled: BigInt(`0x${at(first)}`),
      deposit: BigInt(`0x${at(first + 1)}`),
      closeRequestedAt: Number(BigInt(`0x${at(first + 2)}`)),
    })
  }
  return states
}
