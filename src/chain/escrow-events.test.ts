import fc from 'fast-check'
import {
  encodeAbiParameters,
  encodeEventTopics,
  parseEventLogs,
  type AbiEvent,
  type Address,
  type Hex,
  type Log,
} from 'viem'
import { describe, expect, it } from 'vitest'
import { escrowAbi, canonicalEscrow } from './escrow-abi.js'
import { decodeEscrowEvents, type EscrowEventName } from './escrow-events.js'

const events = escrowAbi.filter(
  (item): item is Extract<typeof item, { type: 'event' }> => (item.type as string) === 'event',
) as unknown as readonly (AbiEvent & { name: EscrowEventName })[]

const hexOf = (bytes: number) =>
  fc
    .uint8Array({ minLength: bytes, maxLength: bytes })
    .map((b): Hex => `0x${Buffer.from(b).toString('hex')}`)

const valueOf = (type: string): fc.Arbitrary<unknown> => {
  if (type === 'address') return hexOf(20)
  if (type === 'bytes32') return hexOf(32)
  const bits = Number(type.slice(4))
  return fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n })
}

/** A log of `event` with random arguments, as a receipt holds it (viem-formatted). */
const logOf = (event: AbiEvent, address: Address, channelId?: Hex): fc.Arbitrary<Log> =>
  fc
    .record({
      args: fc.record(
        Object.fromEntries(
          event.inputs.map((input) => [
            input.name!,
            input.name === 'channelId' && channelId ? fc.constant(channelId) : valueOf(input.type),
          ]),
        ),
      ),
      logIndex: fc.nat({ max: 1000 }),
    })
    .map(({ args, logIndex }) => {
      const nonIndexed = event.inputs.filter((input) => !input.indexed)
      return {
        address,
        topics: encodeEventTopics({ abi: [event], eventName: event.name, args }),
        data: encodeAbiParameters(
          nonIndexed,
          nonIndexed.map((input) => args[input.name!]),
        ),
        blockHash: `0x${'12'.repeat(32)}`,
        blockNumber: 77n,
        logIndex,
        transactionHash: `0x${'34'.repeat(32)}`,
        transactionIndex: 3,
        removed: false,
      } as Log
    })

/** What the gateway decoded before escrow-events.ts: viem's parser, filtered the same way. */
const viaViem = (logs: readonly Log[], eventName: EscrowEventName, channelId: Hex) =>
  (
    parseEventLogs({ abi: escrowAbi, logs: [...logs] }) as unknown as {
      eventName: string
      address: string
      args: { channelId: Hex }
    }[]
  ).filter(
    (event) =>
      event.eventName === eventName &&
      event.address.toLowerCase() === canonicalEscrow &&
      event.args.channelId.toLowerCase() === channelId.toLowerCase(),
  )

const otherEscrow: Address = '0x4d50500000000000000000000000000000000001'

describe('escrow events', () => {
  it('decodes every event to what viem decodes, and only its channel and escrow', () => {
    const scenario = hexOf(32).chain((channelId) =>
      fc.record({
        channelId: fc.constant(channelId),
        logs: fc.array(
          fc.oneof(
            ...events.map((event) => logOf(event, canonicalEscrow, channelId)),
            ...events.map((event) => logOf(event, canonicalEscrow)),
            ...events.map((event) => logOf(event, otherEscrow, channelId)),
          ),
          { maxLength: 8 },
        ),
      }),
    )
    let decoded = 0
    fc.assert(
      fc.property(scenario, ({ channelId, logs }) => {
        for (const { name } of events) {
          const expected = viaViem(logs, name, channelId)
          decoded += expected.length
          expect(decodeEscrowEvents(logs, name, canonicalEscrow, channelId)).toEqual(expected)
          // Any case of the channel id and escrow address.
          expect(
            decodeEscrowEvents(
              logs,
              name,
              canonicalEscrow.toUpperCase().replace('0X', '0x') as Hex,
              channelId.toUpperCase().replace('0X', '0x') as Hex,
            ),
          ).toEqual(expected)
        }
      }),
      { numRuns: 100 },
    )
    // The scenarios did hold logs of the channel, not only ones to skip.
    expect(decoded).toBeGreaterThan(20)
  })

  it('skips a log whose topics or data are short for the event, as viem does', () => {
    const settled = events.find((event) => event.name === 'Settled')!
    const channelId: Hex = `0x${'aa'.repeat(32)}`
    const [log] = fc.sample(logOf(settled, canonicalEscrow, channelId), { numRuns: 1 }) as [Log]
    expect(decodeEscrowEvents([log], 'Settled', canonicalEscrow, channelId)).toHaveLength(1)
    const short = { ...log, data: log.data.slice(0, -2) as Hex }
    const fewTopics = { ...log, topics: log.topics.slice(0, 3) as Log['topics'] }
    for (const bad of [short, fewTopics]) {
      expect(decodeEscrowEvents([bad], 'Settled', canonicalEscrow, channelId)).toEqual([])
      expect(viaViem([bad], 'Settled', channelId)).toEqual([])
    }
  })
})
