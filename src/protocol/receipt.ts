/**
 * The `Payment-Receipt` header of a Tempo session success (protocol.md §1.4, §2.8).
 *
 * Invariants: the value is base64url without padding of plain JSON whose keys are exactly, and
 * in this order, those an mppx 0.11 server sends (wire-samples.md §5): method, intent, status,
 * timestamp, reference, challengeId, channelId, acceptedCumulative, spent, units?, txHash?.
 * Amounts are decimal strings of base units. A receipt is only ever sent on a 2xx answer.
 */
import { decodeBase64urlJson, encodeBase64url } from './base64url.js'

/** A Tempo session receipt. Amounts are base-unit decimal strings. */
export type SessionReceipt = {
  method: 'tempo'
  intent: 'session'
  status: 'success'
  /** RFC 3339 time the request was accepted. */
  timestamp: string
  /** The channel id (mppx uses it as the session reference). */
  reference: string
  challengeId: string
  channelId: string
  /** Highest voucher amount accepted on the channel. */
  acceptedCumulative: string
  /** Total charged on the channel so far, this request included. */
  spent: string
  /** Requests charged on the channel so far. */
  units?: number
  /** Transaction of an on-chain action (open, topUp, close). */
  txHash?: string
}

/** Encodes a session receipt as a `Payment-Receipt` header value, keys in mppx's order. */
export function encodeReceipt(r: SessionReceipt): string {
  // A fresh literal fixes the key order whatever order the caller built `r` in.
  const ordered = {
    method: r.method,
    intent: r.intent,
    status: r.status,
    timestamp: r.timestamp,
    reference: r.reference,
    challengeId: r.challengeId,
    channelId: r.channelId,
    acceptedCumulative: r.acceptedCumulative,
    spent: r.spent,
    ...(r.units === undefined ? {} : { units: r.units }),
    ...(r.txHash === undefined ? {} : { txHash: r.txHash }),
  }
  return encodeBase64url(JSON.stringify(ordered))
}

/**
 * Decodes any `Payment-Receipt` header value (any method) to its JSON object.
 *
 * @throws Error when the value is not base64url JSON of an object.
 */
export function decodeReceipt(s: string): Record<string, unknown> {
  const value = decodeBase64urlJson(s)
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('Payment-Receipt is not a JSON object.')
  }
  return value as Record<string, unknown>
}
