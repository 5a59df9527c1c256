/**
 * Decoding of the escrow's events from a receipt's logs, for one channel at a time.
 *
 * Why not viem's `parseEventLogs`: per call it hashes the signature of every event it is given,
 * and per log it hashes it again (`decodeEventLog`) before running the generic ABI decoder — about
 * a third of a millisecond per settlement, for four 32-byte words. Every escrow event has only
 * static one-word fields (bytes32, address, uint), the channel id first and indexed, so a log is
 * picked by its selector and its channel's topic before anything is decoded, and decoding is
 * slicing words.
 *
 * The result is the very object `parseEventLogs` returns for the same log (`{ eventName, args,
 * ...log }`, addresses checksummed, integers as bigint; escrow-events.test.ts compares both), and,
 * like its strict mode, a log with fewer topics or data words than the event has is skipped.
 */
import { checksumAddress, toEventSelector, type Hex, type Log } from 'viem'
import { escrowAbi } from './escrow-abi.js'

/** The escrow's event names. */
export type EscrowEventName = Extract<(typeof escrowAbi)[number], { type: 'event' }>['name']

type Field = { readonly name: string; readonly decode: (word: string) => unknown }

type EventDecoder = {
  readonly selector: Hex
  /** Indexed fields after the channel id (topics 2…). */
  readonly topics: readonly Field[]
  /** Non-indexed fields, one 32-byte word each in `data`. */
  readonly words: readonly Field[]
}

/** A decoder for one static ABI type, from a word of 64 hex digits (no `0x`). */
function wordDecoder(type: string): Field['decode'] {
  if (type === 'bytes32') return (word) => `0x${word}`
  if (type === 'address') return (word) => checksumAddress(`0x${word.slice(24)}`)
  if (/^uint\d+$/.test(type)) return (word) => BigInt(`0x${word}`)
  throw new Error(`escrow-events: no decoder for ${type}`)
}

const decoders = new Map<string, EventDecoder>(
  escrowAbi
    .filter((item): item is Extract<typeof item, { type: 'event' }> => item.type === 'event')
    .map((event) => {
      const [first, ...rest] = event.inputs as readonly {
        name: string
        type: string
        indexed?: boolean
      }[]
      if (first?.name !== 'channelId' || !first.indexed || first.type !== 'bytes32')
        throw new Error(`escrow-events: ${event.name} does not start with an indexed channelId`)
      const field = (input: { name: string; type: string }) => ({
        name: input.name,
        decode: wordDecoder(input.type),
      })
      return [
        event.name,
        {
          selector: toEventSelector(event),
          topics: rest.filter((input) => input.indexed).map(field),
          words: rest.filter((input) => !input.indexed).map(field),
        },
      ] as const
    }),
)

/**
 * The `eventName` events of the escrow at `escrow` for `channelId` among `logs`, decoded (see the
 * module header). `escrow` and `channelId` in any case.
 */
export function decodeEscrowEvents(
  logs: readonly Log[],
  eventName: EscrowEventName,
  escrow: Hex,
  channelId: Hex,
): unknown[] {
  const decoder = decoders.get(eventName)
  if (!decoder) return []
  const address = escrow.toLowerCase()
  const channel = channelId.toLowerCase()
  const found: unknown[] = []
  for (const log of logs) {
    const { topics } = log
    if (topics[0] !== decoder.selector || topics.length < 2 + decoder.topics.length) continue
    if (topics[1]?.toLowerCase() !== channel || log.address.toLowerCase() !== address) continue
    const data = log.data
    if (data.length < 2 + 64 * decoder.words.length) continue
    const args: Record<string, unknown> = { channelId: topics[1] }
    decoder.topics.forEach((field, i) => {
      args[field.name] = field.decode((topics[2 + i] as string).slice(2))
    })
    decoder.words.forEach((field, i) => {
      args[field.name] = field.decode(data.slice(2 + 64 * i, 2 + 64 * (i + 1)))
    })
    found.push({ eventName, args, ...log })
  }
  return found
}
