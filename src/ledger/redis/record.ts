/**
 * How a channel record is written to and read from its Redis hash, and how the Node side turns
 * port inputs into script arguments (script replies are decoded by replies.ts).
 *
 * Invariants:
 *  - amounts cross the boundary as canonical decimal strings (`bigint.toString()`), never as
 *    numbers; the scripts do exact decimal arithmetic on them (lua-decimal.ts);
 *  - times, counters and the chain id are safe integers, sent as their decimal form;
 *  - a record read back is exactly the one the memory adapter would hold: same fields, bigints
 *    for amounts, `undefined` (present as a key) for a missing settle voucher or close hash;
 *  - inputs are validated before any script runs, so a script never sees a value it would
 *    misread. A malformed input is a programming error (`TypeError`/`RangeError`), not a ledger
 *    outcome.
 *
 * Hash fields (see docs/DESIGN.md "Redis key schema"): channelId, chainId, escrow, payer, payee,
 * operator, token, salt, authorizedSigner, expiringNonceHash, deposit, settled, closeRequestedAt,
 * status, acceptedCumulative, acceptedSignature, settleCumulative?, settleSignature?, spent, units,
 * reserved, held (absent in records written before holds: 0), closeTxHash?, updatedAt, pending,
 * unsettledSince?.
 */
import type { Address, Hex } from 'viem'
import type { ChannelRecord, ChannelStatus, NewChannel } from '../port.js'

/** Amounts above this many decimal digits (more than a uint256) are refused as malformed. */
const maxAmountDigits = 78

/** An amount as a script argument: a non-negative bigint's canonical decimal string. */
export function amountArg(value: bigint, what: string): string {
  if (typeof value !== 'bigint' || value < 0n) {
    throw new RangeError(`ledger: ${what} must be a non-negative bigint`)
  }
  const text = value.toString()
  if (text.length > maxAmountDigits) throw new RangeError(`ledger: ${what} is too large`)
  return text
}

/** A time or counter as a script argument. */
export function integerArg(value: number, what: string): string {
  if (!Number.isSafeInteger(value)) throw new RangeError(`ledger: ${what} must be a safe integer`)
  return String(value)
}

/** A signature or hash as a script argument: `0x` and hex digits only (the hash's separators). */
export function hexArg(value: string, what: string): string {
  if (!/^0x[0-9a-fA-F]*$/.test(value)) throw new TypeError(`ledger: ${what} must be hex`)
  return value
}

/** A channel id, lower-cased: the memory adapter's key and the Redis hash tag. */
export function channelKeyId(channelId: string): Hex {
  const id = channelId.toLowerCase()
  if (!/^0x[0-9a-f]{64}$/.test(id)) throw new TypeError('ledger: a channel id is 32 bytes of hex')
  return id as Hex
}

/** ARGV of the `open` script (see scripts.ts). */
export function openArgs(channel: NewChannel, now: number): string[] {
  const d = channel.descriptor
  return [
    integerArg(now, 'now'),
    channelKeyId(channel.channelId),
    integerArg(channel.chainId, 'chainId'),
    hexArg(channel.escrow, 'escrow'),
    hexArg(d.payer, 'payer'),
    hexArg(d.payee, 'payee'),
    hexArg(d.operator, 'operator'),
    hexArg(d.token, 'token'),
    hexArg(d.salt, 'salt'),
    hexArg(d.authorizedSigner, 'authorizedSigner'),
    hexArg(d.expiringNonceHash, 'expiringNonceHash'),
    amountArg(channel.deposit, 'deposit'),
    amountArg(channel.settled, 'settled'),
  ]
}

const statuses: readonly ChannelStatus[] = ['open', 'closing', 'finalized']

/** Rebuilds the port's record from its hash; throws on a hash that is not a ledger record. */
export function decodeRecord(fields: Readonly<Record<string, string>>): ChannelRecord {
  const text = (name: string): string => {
    const value = fields[name]
    if (value === undefined) throw new Error(`ledger: channel record lacks field ${name}`)
    return value
  }
  const hex = (name: string): Hex => {
    const value = text(name)
    if (!value.startsWith('0x')) throw new Error(`ledger: channel field ${name} is not hex`)
    return value as Hex
  }
  const address = (name: string): Address => hex(name)
  const status = text('status')
  if (!statuses.includes(status as ChannelStatus)) {
    throw new Error(`ledger: unknown channel status ${status}`)
  }
  const settleCumulative = fields.settleCumulative
  const closeTxHash = fields.closeTxHash
  return {
    channelId: hex('channelId'),
    chainId: Number(text('chainId')),
    escrow: address('escrow'),
    descriptor: {
      payer: address('payer'),
      payee: address('payee'),
      operator: address('operator'),
      token: address('token'),
      salt: hex('salt'),
      authorizedSigner: address('authorizedSigner'),
      expiringNonceHash: hex('expiringNonceHash'),
    },
    deposit: BigInt(text('deposit')),
    settled: BigInt(text('settled')),
    closeRequestedAt: Number(text('closeRequestedAt')),
    status: status as ChannelStatus,
    accepted: {
      cumulative: BigInt(text('acceptedCumulative')),
      signature: hex('acceptedSignature'),
    },
    settleVoucher:
      settleCumulative === undefined
        ? undefined
        : { cumulative: BigInt(settleCumulative), signature: hex('settleSignature') },
    spent: BigInt(text('spent')),
    units: Number(text('units')),
    reserved: BigInt(text('reserved')),
    held: fields.held === undefined ? 0n : BigInt(text('held')),
    closeTxHash: closeTxHash === undefined ? undefined : hex('closeTxHash'),
    updatedAt: Number(text('updatedAt')),
  }
}
