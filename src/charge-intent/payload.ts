/**
 * The payload of a Tempo `charge` credential (protocol.md §3), shape only:
 *
 *   {type: "transaction", signature: <signed 0x76 transaction>}   pull: the gateway broadcasts it
 *   {type: "hash", hash: <transaction hash>}                       push: the client broadcast it
 *   {type: "proof", signature}                                     only for a zero amount
 *
 * A proof never pays (mppx refuses it on a priced charge, and so does the gateway); recovery's
 * zero-amount proofs are handled by gate/recovery.ts before a payload reaches this module.
 */
import type { Hex } from 'viem'
import { GatewayError } from '../errors.js'

export type ChargePayload =
  | { readonly type: 'transaction'; readonly transaction: Hex }
  | { readonly type: 'hash'; readonly hash: Hex }

const hexBytes = /^0x(?:[0-9a-fA-F]{2})+$/
const hash32 = /^0x[0-9a-fA-F]{64}$/

const malformed = (detail: string) => new GatewayError('malformed-credential', detail)

/** The payload of a priced charge credential; throws `malformed-credential` / `verification-failed`. */
export function parseChargePayload(payload: unknown): ChargePayload {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw malformed('The charge payload is not an object.')
  }
  const fields = payload as Record<string, unknown>
  switch (fields.type) {
    case 'transaction': {
      const { signature } = fields
      if (typeof signature !== 'string' || !hexBytes.test(signature)) {
        throw malformed('The charge payload has no signed transaction.')
      }
      return { type: 'transaction', transaction: signature as Hex }
    }
    case 'hash': {
      const { hash } = fields
      if (typeof hash !== 'string' || !hash32.test(hash)) {
        throw malformed('The charge payload has no transaction hash.')
      }
      return { type: 'hash', hash: hash.toLowerCase() as Hex }
    }
    case 'proof':
      throw new GatewayError(
        'verification-failed',
        'A proof pays nothing: a priced charge takes a transaction or its hash.',
      )
    default:
      throw malformed('The charge payload type is not transaction or hash.')
  }
}
