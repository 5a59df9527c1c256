/**
 * The gateway's own escrow transactions (`settle`, `close`): call data, fill, encoding and
 * signature, without viem's generic transaction machinery.
 *
 * Why: viem's `prepareTransactionRequest` + `signTransaction` for one Tempo transaction formats
 * the request to RPC form and back, runs the chain's hooks, and serializes it twice through ox's
 * general envelope code (every field checked and converted, each RLP item its own byte array) —
 * profiled, more than a millisecond of CPU per settlement, a third of the budget of issue 10
 * (≤ 3 ms per settlement transaction). The gateway signs one shape only, encoded here directly:
 *
 *   0x76 ‖ rlp([chainId, maxPriorityFeePerGas, maxFeePerGas, gas, [[to, value, data]], accessList,
 *               nonceKey, nonce, validBefore, validAfter, feeToken, feePayerSignature,
 *               authorizationList, signature?])
 *
 * with one call of value 0 to the escrow, no access list, no fee payer (its field empty), no key
 * authorization, the expiring nonce (nonce key 2^256−1, nonce 0) and a secp256k1 signature
 * (r ‖ s ‖ v, v = 27 + yParity). The bytes are exactly what viem's Tempo serializer makes of the
 * same fields (escrow-tx.test.ts compares both over random fields, signatures included).
 *
 * What is filled, and why it is not cached. The node fills gas and fees per transaction with
 * `eth_fillTransaction`, the call viem makes for Tempo chains, with the same request it sent; the
 * calls of one turn of the event loop share one JSON-RPC batch (rpc.ts), so a settle-all pays one
 * request for all of them. Caching a gas figure per function instead would be wrong on Tempo: a
 * settle's gas depends on the state it touches (storage the channel or the payee's balance holds
 * already or not; TIP-1000 prices a new state element at 250,000 gas), so a figure measured on
 * one channel can be short for the next and the transaction would run out of gas after paying its
 * fee. The node's fill also executes the call: a settle that would revert (the channel finalized
 * meanwhile) fails here, before anything is recorded, sent or paid for. The fees are the node's
 * too, the max fee raised by viem's default base-fee multiplier (×1.2), as viem did: they come in
 * the same answer as the gas, so caching them would save no request.
 * What a node without `eth_fillTransaction` would need (viem then falls back to `eth_estimateGas`
 * and fee estimates) is not here: Tempo nodes and the devnet's anvil both answer it.
 */
import { randomInt } from 'node:crypto'
import { toFunctionSelector, type AbiFunction, type Address, type Hex } from 'viem'
import { escrowAbi } from './escrow-abi.js'
import type { EscrowWrite } from './escrow.js'
import { keccak256Bytes } from '../session/keccak.js'

/** A filled escrow transaction: everything signed but the constant fields (see the header). */
export type EscrowTransaction = {
  readonly chainId: number
  readonly to: Address
  readonly data: Hex
  readonly feeToken: Address
  /** Unix seconds; the transaction cannot land at or after it. */
  readonly validBefore: number
  /** Unix seconds in the past (see {@link randomValidAfter}). */
  readonly validAfter: number
  readonly gas: bigint
  readonly maxFeePerGas: bigint
  readonly maxPriorityFeePerGas: bigint
}

export type EscrowFees = Pick<EscrowTransaction, 'gas' | 'maxFeePerGas' | 'maxPriorityFeePerGas'>

/** The nonce key of Tempo's expiring nonces: 2^256 − 1 (with nonce 0). */
const expiringNonceKey = (1n << 256n) - 1n

/**
 * A random second at least a minute in the past, as viem picks one for an expiring-nonce
 * transaction: the transaction hash is its replay guard, and this keeps two otherwise identical
 * transactions signed in the same second (the same settle again) from sharing a hash.
 */
export function randomValidAfter(nowSeconds = Math.floor(Date.now() / 1000)): number {
  return randomInt(1, nowSeconds - 60)
}

// --- call data -------------------------------------------------------------------------------

const selectorOf = (name: 'settle' | 'close') =>
  toFunctionSelector(
    escrowAbi.find((item) => item.type === 'function' && item.name === name) as AbiFunction,
  ).slice(2)
const selectors = { settle: selectorOf('settle'), close: selectorOf('close') }

const addressPattern = /^0x[0-9a-fA-F]{40}$/
const bytes32Pattern = /^0x[0-9a-fA-F]{64}$/
const bytesPattern = /^0x(?:[0-9a-fA-F]{2})*$/
const uint96Max = (1n << 96n) - 1n

const addressWord = (value: string, name: string) => {
  if (!addressPattern.test(value)) throw new Error(`escrow call: ${name} is not an address`)
  return value.slice(2).toLowerCase().padStart(64, '0')
}
const bytes32Word = (value: string, name: string) => {
  if (!bytes32Pattern.test(value)) throw new Error(`escrow call: ${name} is not 32 bytes`)
  return value.slice(2).toLowerCase()
}
const uint96Word = (value: bigint, name: string) => {
  if (value < 0n || value > uint96Max) throw new Error(`escrow call: ${name} is not a uint96`)
  return value.toString(16).padStart(64, '0')
}
const uintWord = (value: number) => value.toString(16).padStart(64, '0')

/**
 * ABI-encoded call data of a `settle` or `close`, written out directly: the descriptor is a
 * static tuple (seven words in place), then the amounts, then the offset, length and padded bytes
 * of the signature. The same bytes as viem's `encodeFunctionData` (escrow-tx.test.ts), without
 * its per-call ABI walk and checksum checks; inputs are still checked for shape and range.
 */
export function encodeEscrowCall(call: EscrowWrite): Hex {
  const d = call.descriptor
  const words = [
    addressWord(d.payer, 'payer'),
    addressWord(d.payee, 'payee'),
    addressWord(d.operator, 'operator'),
    addressWord(d.token, 'token'),
    bytes32Word(d.salt, 'salt'),
    addressWord(d.authorizedSigner, 'authorizedSigner'),
    bytes32Word(d.expiringNonceHash, 'expiringNonceHash'),
    uint96Word(call.cumulative, 'cumulative'),
  ]
  if (call.functionName === 'close') words.push(uint96Word(call.capture, 'capture'))
  if (!bytesPattern.test(call.signature)) throw new Error('escrow call: signature is not bytes')
  const signature = call.signature.slice(2).toLowerCase()
  const length = signature.length / 2
  // The head is the words so far plus the signature's offset word; its bytes follow it.
  words.push(uintWord((words.length + 1) * 32), uintWord(length))
  const padded = signature.padEnd(Math.ceil(length / 32) * 64, '0')
  return `0x${selectors[call.functionName]}${words.join('')}${padded}`
}

// --- fill --------------------------------------------------------------------------------------

/**
 * The `eth_fillTransaction` request for `tx` from `from`: the fields viem sends for the same
 * transaction, in the same RPC form (the call's `value` included as viem writes it, `0x`).
 */
export function fillRequest(
  from: Address,
  tx: Omit<EscrowTransaction, keyof EscrowFees | 'chainId'>,
): Record<string, unknown> {
  return {
    from,
    nonce: '0x0',
    type: '0x76',
    calls: [{ to: tx.to, value: '0x', data: tx.data }],
    feeToken: tx.feeToken,
    validBefore: `0x${tx.validBefore.toString(16)}`,
    validAfter: `0x${tx.validAfter.toString(16)}`,
    nonceKey: `0x${expiringNonceKey.toString(16)}`,
  }
}

const quantity = (value: unknown, name: string): bigint => {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{1,64}$/.test(value))
    throw new Error(`eth_fillTransaction answered without a valid ${name}`)
  return BigInt(value)
}

/**
 * Gas and fees from an `eth_fillTransaction` answer, as viem takes them: gas and priority fee as
 * filled, the max fee × 1.2 (viem's default base-fee multiplier; Tempo chains set none).
 */
export function feesOfFill(result: unknown): EscrowFees {
  const tx = (result as { tx?: Record<string, unknown> } | null)?.tx
  if (!tx) throw new Error('eth_fillTransaction answered without a transaction')
  const gas = quantity(tx.gas, 'gas')
  const maxFeePerGas = (quantity(tx.maxFeePerGas, 'maxFeePerGas') * 12n) / 10n
  const maxPriorityFeePerGas = quantity(tx.maxPriorityFeePerGas, 'maxPriorityFeePerGas')
  if (gas === 0n) throw new Error('eth_fillTransaction answered a gas limit of 0')
  if (maxPriorityFeePerGas > maxFeePerGas)
    throw new Error('eth_fillTransaction answered a priority fee above the max fee')
  return { gas, maxFeePerGas, maxPriorityFeePerGas }
}

// --- RLP ---------------------------------------------------------------------------------------
// Built as hex text (V8 joins strings without copying) and turned into bytes once, for the hash:
// a Buffer per item and per concatenation cost more than the rest of the signing.

/** Hex of a non-negative integer's big-endian bytes, without leading zeros (0 → none). */
function integerHex(value: bigint | number): string {
  if (value === 0 || value === 0n) return ''
  const hex = value.toString(16)
  return hex.length % 2 ? `0${hex}` : hex
}

/** The RLP prefix of a string (`offset` 0x80) or list (0xc0) of a payload of `hexLength` digits. */
function prefix(hexLength: number, offset: 0x80 | 0xc0): string {
  const length = hexLength / 2
  if (length <= 55) return (offset + length).toString(16)
  const size = integerHex(length)
  return `${(offset + 55 + size.length / 2).toString(16)}${size}`
}

/** An RLP string of the bytes `hex` (even length, no `0x`). */
function rlpString(hex: string): string {
  if (hex.length === 2 && parseInt(hex, 16) < 0x80) return hex
  return `${prefix(hex.length, 0x80)}${hex}`
}

function rlpList(items: readonly string[]): string {
  const body = items.join('')
  return `${prefix(body.length, 0xc0)}${body}`
}

const digits = (hex: Hex) => hex.slice(2).toLowerCase()
const emptyString = rlpString('')
const emptyList = rlpList([])
const nonceKeyItem = rlpString(integerHex(expiringNonceKey))
const signaturePattern = /^0x[0-9a-fA-F]{130}$/

/**
 * The transaction's bytes, as hex: the signing preimage without `signature` (its keccak is the
 * sign payload), the broadcast form with it (its keccak is the transaction hash).
 */
export function encodeEscrowTransaction(tx: EscrowTransaction, signature?: Hex): Hex {
  if (signature !== undefined && !signaturePattern.test(signature))
    throw new Error('signature must be 65 bytes')
  // The checks ox makes of every Tempo envelope, and validAfter > 0 (encoded as a number here).
  if (!(tx.validAfter > 0 && tx.validBefore > tx.validAfter))
    throw new Error('the validity window must satisfy 0 < validAfter < validBefore')
  if (!(tx.chainId > 0)) throw new Error('the chain id must be positive')
  if (tx.maxPriorityFeePerGas > tx.maxFeePerGas)
    throw new Error('the priority fee must not exceed the max fee')
  if (!bytesPattern.test(tx.data)) throw new Error('the call data must be bytes')
  const items = [
    rlpString(integerHex(tx.chainId)),
    rlpString(integerHex(tx.maxPriorityFeePerGas)),
    rlpString(integerHex(tx.maxFeePerGas)),
    rlpString(integerHex(tx.gas)),
    // One call: [to, value (0: empty), data].
    rlpList([
      rlpList([
        rlpString(addressWord(tx.to, 'to').slice(24)),
        emptyString,
        rlpString(digits(tx.data)),
      ]),
    ]),
    emptyList, // access list
    nonceKeyItem,
    emptyString, // nonce 0
    rlpString(integerHex(tx.validBefore)),
    rlpString(integerHex(tx.validAfter)),
    rlpString(addressWord(tx.feeToken, 'feeToken').slice(24)),
    emptyString, // no fee payer
    emptyList, // authorization list
  ]
  if (signature !== undefined) items.push(rlpString(digits(signature)))
  return `0x76${rlpList(items)}`
}

/** Signs a 32-byte payload: r ‖ s ‖ v (v = 27 + yParity) in hex, as viem's `sign` returns it. */
export type SignPayload = (payload: Hex) => Promise<Hex>

const keccakHex = (hex: Hex): Hex =>
  `0x${Buffer.from(keccak256Bytes(Buffer.from(hex.slice(2), 'hex'))).toString('hex')}`

/** Encodes, signs and hashes `tx`. */
export async function signEscrowTransaction(
  tx: EscrowTransaction,
  sign: SignPayload,
): Promise<{ readonly rawTransaction: Hex; readonly hash: Hex }> {
  const signature = await sign(keccakHex(encodeEscrowTransaction(tx)))
  const rawTransaction = encodeEscrowTransaction(tx, signature)
  return { rawTransaction, hash: keccakHex(rawTransaction) }
}
