/**
 * The `Payment-Receipt` header of a Tempo session success (protocol.md §1.4, §2.8), and of a
 * one-shot Tempo charge (`chargeReceipt`, protocol.md §3).
 *
 * Invariants: the value is base64url without padding of plain JSON whose keys are exactly, and
 * in this order, those an mppx 0.11 server sends (wire-samples.md §5): method, intent, status,
 * timestamp, reference, challengeId, channelId, acceptedCumulative, spent, units?, txHash?, then
 * `amount` (what this answer was charged) on a route priced from the answer, which mppx ignores.
 * Amounts are decimal strings of base units.
 *
 * A receipt goes with EVERY answer to a request whose session credential was accepted, whatever
 * the status (docs/DESIGN.md "Every exit of a paid request"): mppx 0.11 clients roll their voucher
 * back after a non-ok answer that carries none, while the gateway keeps the voucher.
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
  /**
   * What this answer was charged, on a route priced from the answer (base units). mppx 0.11
   * ignores keys it does not know.
   */
  amount?: string
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
    ...(r.amount === undefined ? {} : { amount: r.amount }),
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

/** The figures of one session receipt; amounts in base units. */
export type SessionReceiptFigures = {
  readonly channelId: string
  readonly challengeId: string
  /** The voucher amount the receipt confirms (never above what the client itself signed). */
  readonly acceptedCumulative: bigint
  readonly spent: bigint
  readonly units: number
  readonly txHash?: string | undefined
  /** Milliseconds since the epoch. */
  readonly now: number
  /** What this answer was charged (metered routes only). */
  readonly amount?: bigint | undefined
}

/** The `Payment-Receipt` value of a Tempo session answer. */
export function sessionReceipt(figures: SessionReceiptFigures): string {
  return encodeReceipt({
    method: 'tempo',
    intent: 'session',
    status: 'success',
    timestamp: new Date(figures.now).toISOString(),
    reference: figures.channelId,
    challengeId: figures.challengeId,
    channelId: figures.channelId,
    acceptedCumulative: figures.acceptedCumulative.toString(),
    spent: figures.spent.toString(),
    units: figures.units,
    ...(figures.txHash ? { txHash: figures.txHash } : {}),
    ...(figures.amount === undefined ? {} : { amount: figures.amount.toString() }),
  })
}

/** The figures of a one-shot charge's receipt. */
export type ChargeReceiptFigures = {
  /** The payment transaction (what mppx names as the charge's `reference`). */
  readonly txHash: string
  readonly challengeId: string
  /** Milliseconds since the epoch. */
  readonly now: number
}

/**
 * The `Payment-Receipt` value of an answer paid with a one-shot Tempo charge: `reference` is the
 * payment transaction's hash, as mppx 0.11's `tempo.charge` server states it, plus the intent
 * and the challenge it paid.
 */
export function chargeReceipt(figures: ChargeReceiptFigures): string {
  const ordered = {
    method: 'tempo',
    intent: 'charge',
    status: 'success',
    timestamp: new Date(figures.now).toISOString(),
    reference: figures.txHash,
    challengeId: figures.challengeId,
  }
  return encodeBase64url(JSON.stringify(ordered))
}
