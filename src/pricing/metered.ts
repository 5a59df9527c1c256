/**
 * The price of one answer on a metered route: `base + perUnit × units`, at most the route's
 * price (the maximum the challenge states and the reservation holds).
 *
 * Pure: it reads the upstream's head and, when the source needs one, the body the gateway held
 * (at most `bufferBytes` of it). Whatever cannot be read — a missing or malformed field or
 * header, a body over the buffer, an answer that is not JSON — costs the maximum: the payer
 * agreed to it in the challenge, and the operator sizes `bufferBytes` so that a well-formed
 * answer fits. The access line and the metrics name such a charge (`basis`), so an operator
 * sees an upstream that stopped reporting its units.
 */

import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib'

/** Largest decoded JSON body read for its units (a compressed body may expand this far). */
const maxDecodedBytes = 64 * 1024 * 1024

/** Where an answer's units come from. */
export type UnitSource =
  | { readonly kind: 'bytes'; readonly per: number }
  | { readonly kind: 'json'; readonly path: readonly string[] }
  | { readonly kind: 'header'; readonly name: string }

/** A route's metering, amounts in base units. */
export type Metering = {
  readonly base: bigint
  readonly perUnit: bigint
  readonly units: UnitSource
  /** The most body bytes held to read the price before the head leaves. */
  readonly bufferBytes: number
}

/** What the gateway knows of an answer when it prices it. */
export type MeteredAnswer = {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** The body held before the head; `complete: false` when it outgrew the buffer. */
  readonly body?: { readonly bytes: Buffer; readonly complete: boolean } | undefined
}

/**
 * How the amount was found: from the units, capped at the maximum, or the maximum because the
 * units could not be read (`unreadable`) or the body outgrew the buffer (`over-buffer`).
 */
export type PriceBasis = 'units' | 'capped' | 'unreadable' | 'over-buffer'

export type AnswerPrice = {
  readonly amount: bigint
  readonly units: bigint | undefined
  readonly basis: PriceBasis
}

/** Whether the body must be held before the head to price this answer. */
export function needsBody(metering: Metering, headers: MeteredAnswer['headers']): boolean {
  switch (metering.units.kind) {
    case 'json':
      return true
    case 'bytes':
      return declaredLength(headers) === undefined
    case 'header':
      return false
  }
}

/** The price of an answer; never above `max`. */
export function priceAnswer(metering: Metering, max: bigint, answer: MeteredAnswer): AnswerPrice {
  const read = unitsOf(metering.units, answer)
  if (typeof read === 'string') return { amount: max, units: undefined, basis: read }
  const amount = metering.base + metering.perUnit * read
  return amount > max
    ? { amount: max, units: read, basis: 'capped' }
    : { amount, units: read, basis: 'units' }
}

function unitsOf(source: UnitSource, answer: MeteredAnswer): bigint | 'unreadable' | 'over-buffer' {
  switch (source.kind) {
    case 'header':
      return wholeNumber(first(answer.headers[source.name])) ?? 'unreadable'
    case 'bytes': {
      const size = declaredLength(answer.headers) ?? heldSize(answer)
      if (typeof size === 'string') return size
      // Started blocks: 1 byte over a block is a second block.
      const per = BigInt(source.per)
      return (size + per - 1n) / per
    }
    case 'json': {
      const body = answer.body
      if (!body) return 'unreadable'
      if (!body.complete) return 'over-buffer'
      let value: unknown
      try {
        const text = decoded(body.bytes, first(answer.headers['content-encoding']))
        value = JSON.parse(text.toString('utf8'))
      } catch {
        return 'unreadable'
      }
      for (const segment of source.path) {
        if (typeof value !== 'object' || value === null) return 'unreadable'
        if (!Object.hasOwn(value, segment)) return 'unreadable'
        value = (value as Record<string, unknown>)[segment]
      }
      if (typeof value === 'number') {
        return Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : 'unreadable'
      }
      return (typeof value === 'string' ? wholeNumber(value) : undefined) ?? 'unreadable'
    }
  }
}

/**
 * The body as the upstream meant it: an upstream may compress its answer (the client's
 * Accept-Encoding is forwarded), and the units are in the JSON, not in the bytes on the wire.
 * Bounded, so a small compressed body cannot expand without limit.
 *
 * @throws Error on an unknown encoding or a body that does not decode.
 */
function decoded(bytes: Buffer, encoding: string | undefined): Buffer {
  const options = { maxOutputLength: maxDecodedBytes }
  switch (encoding?.trim().toLowerCase()) {
    case undefined:
    case '':
    case 'identity':
      return bytes
    case 'gzip':
    case 'x-gzip':
      return gunzipSync(bytes, options)
    case 'deflate':
      return inflateSync(bytes, options)
    case 'br':
      return brotliDecompressSync(bytes, options)
    default:
      throw new Error(`unknown content-encoding ${encoding}`)
  }
}

function heldSize(answer: MeteredAnswer): bigint | 'unreadable' | 'over-buffer' {
  if (!answer.body) return 'unreadable'
  return answer.body.complete ? BigInt(answer.body.bytes.length) : 'over-buffer'
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value
}

/** A non-negative whole number written in decimal digits (at most 30), else undefined. */
function wholeNumber(text: string | undefined): bigint | undefined {
  const trimmed = text?.trim()
  return trimmed !== undefined && /^\d{1,30}$/.test(trimmed) ? BigInt(trimmed) : undefined
}

/** The upstream's Content-Length, when it declares one plainly. */
function declaredLength(headers: MeteredAnswer['headers']): bigint | undefined {
  return wholeNumber(first(headers['content-length']))
}
