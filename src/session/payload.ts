/**
 * Session credential payloads (`payload.action`: open, topUp, voucher, close), checked for shape
 * before anything expensive happens: hex lengths, amounts as canonical decimal strings within
 * uint96, addresses. Anything off is a `malformed-credential`. Unknown extra fields are ignored,
 * as mppx clients send some (e.g. `authorizationSignature`).
 */
import { getAddress, isAddress, type Address, type Hex } from 'viem'
import { GatewayError } from '../errors.js'
import type { Descriptor } from '../ledger/port.js'

export type OpenPayload = {
  readonly action: 'open'
  readonly channelId: Hex
  readonly transaction: Hex
  readonly descriptor: Descriptor
  readonly cumulativeAmount: bigint
  readonly signature: Hex
}

export type TopUpPayload = {
  readonly action: 'topUp'
  readonly channelId: Hex
  readonly transaction: Hex
  readonly descriptor: Descriptor
  readonly additionalDeposit: bigint
}

export type VoucherPayload = {
  readonly action: 'voucher' | 'close'
  readonly channelId: Hex
  readonly descriptor: Descriptor
  readonly cumulativeAmount: bigint
  readonly signature: Hex
}

export type SessionPayload = OpenPayload | TopUpPayload | VoucherPayload

/** Largest amount a TIP-1034 voucher or deposit can carry. */
export const maxUint96 = (1n << 96n) - 1n

const hash32 = /^0x[0-9a-fA-F]{64}$/
const hexBytes = /^0x(?:[0-9a-fA-F]{2})+$/
const decimal = /^(?:0|[1-9][0-9]{0,28})$/

const malformed = (detail: string) => new GatewayError('malformed-credential', detail)

function field(record: Record<string, unknown>, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(record, name) ? record[name] : undefined
}

function hashField(record: Record<string, unknown>, name: string): Hex {
  const value = field(record, name)
  if (typeof value !== 'string' || !hash32.test(value))
    throw malformed(`payload.${name} must be a 32-byte hex string`)
  return value.toLowerCase() as Hex
}

function bytesField(record: Record<string, unknown>, name: string, maxBytes: number): Hex {
  const value = field(record, name)
  if (typeof value !== 'string' || !hexBytes.test(value) || value.length > 2 + maxBytes * 2) {
    throw malformed(`payload.${name} must be hex bytes`)
  }
  return value as Hex
}

function amountField(record: Record<string, unknown>, name: string): bigint {
  const value = field(record, name)
  if (typeof value !== 'string' || !decimal.test(value)) {
    throw malformed(`payload.${name} must be a base-unit decimal string`)
  }
  const amount = BigInt(value)
  if (amount > maxUint96) throw malformed(`payload.${name} exceeds uint96`)
  return amount
}

function addressField(record: Record<string, unknown>, name: string): Address {
  const value = field(record, name)
  if (typeof value !== 'string' || !isAddress(value, { strict: false })) {
    throw malformed(`descriptor.${name} must be an address`)
  }
  return getAddress(value)
}

function descriptorField(record: Record<string, unknown>): Descriptor {
  const value = field(record, 'descriptor')
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed('payload.descriptor is required')
  }
  const d = value as Record<string, unknown>
  return {
    payer: addressField(d, 'payer'),
    payee: addressField(d, 'payee'),
    operator: addressField(d, 'operator'),
    token: addressField(d, 'token'),
    salt: hashField(d, 'salt'),
    authorizedSigner: addressField(d, 'authorizedSigner'),
    expiringNonceHash: hashField(d, 'expiringNonceHash'),
  }
}

/** Size bound for client transactions carried in a credential. */
const maxTransactionBytes = 8 * 1024
/** Size bound for voucher signatures (WebAuthn envelopes are the largest). */
const maxSignatureBytes = 2 * 1024

/** Checks and types a session payload; throws `malformed-credential` on anything else. */
export function parseSessionPayload(payload: unknown): SessionPayload {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw malformed('payload must be an object')
  }
  const p = payload as Record<string, unknown>
  const action = field(p, 'action')
  switch (action) {
    case 'open':
      return {
        action,
        channelId: hashField(p, 'channelId'),
        transaction: bytesField(p, 'transaction', maxTransactionBytes),
        descriptor: descriptorField(p),
        cumulativeAmount: amountField(p, 'cumulativeAmount'),
        signature: bytesField(p, 'signature', maxSignatureBytes),
      }
    case 'topUp':
      return {
        action,
        channelId: hashField(p, 'channelId'),
        transaction: bytesField(p, 'transaction', maxTransactionBytes),
        descriptor: descriptorField(p),
        additionalDeposit: amountField(p, 'additionalDeposit'),
      }
    case 'voucher':
    case 'close':
      return {
        action,
        channelId: hashField(p, 'channelId'),
        descriptor: descriptorField(p),
        cumulativeAmount: amountField(p, 'cumulativeAmount'),
        signature: bytesField(p, 'signature', maxSignatureBytes),
      }
    default:
      throw malformed('payload.action must be open, topUp, voucher or close')
  }
}
