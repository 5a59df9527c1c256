/**
 * Base64url codec for the Payment scheme's wire values: challenge `request` and `opaque`, the
 * `Authorization: Payment` credential and the `Payment-Receipt` header.
 *
 * Invariants: encoders always emit the URL-safe alphabet without padding, the form the Payment
 * scheme and mppx put on the wire. Decoders are lenient in exactly two ways and strict otherwise:
 * they accept `=` padding and the standard `+/` alphabet (mppx sends some values, such as the
 * session snapshot, in padded standard base64), but any other character, misplaced padding or an
 * impossible length throws, instead of being silently skipped as Node's own decoder would.
 * JSON helpers decode strict UTF-8: invalid byte sequences throw rather than becoming U+FFFD.
 */
import { isUtf8 } from 'node:buffer'

const base64Characters = /^[A-Za-z0-9+/_-]*$/

/** Encodes bytes, or a string as its UTF-8 bytes, as base64url without padding. */
export function encodeBase64url(data: Uint8Array | string): string {
  const buffer =
    typeof data === 'string'
      ? Buffer.from(data, 'utf8')
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  return buffer.toString('base64url')
}

/**
 * Decodes base64url (or standard base64), padded or not.
 *
 * @throws Error on any character outside both alphabets, on padding that is not one or two
 *   trailing `=` completing a 4-character group, and on a length no encoder can produce.
 */
export function decodeBase64url(s: string): Uint8Array {
  let end = s.length
  while (end > 0 && s.charCodeAt(end - 1) === 0x3d) end--
  const padding = s.length - end
  const body = padding === 0 ? s : s.slice(0, end)
  if (!base64Characters.test(body)) throw new Error('Invalid base64url: unexpected character.')
  if (body.length % 4 === 1) throw new Error('Invalid base64url: impossible length.')
  if (padding > 0 && (padding > 2 || (body.length + padding) % 4 !== 0)) {
    throw new Error('Invalid base64url: bad padding.')
  }
  // Node's base64 decoder reads both alphabets; the checks above make it strict.
  return Buffer.from(body, 'base64')
}

/** Encodes a value as base64url (no padding) of its plain `JSON.stringify` text (not JCS). */
export function encodeBase64urlJson(value: unknown): string {
  const json = JSON.stringify(value) as string | undefined
  if (json === undefined) throw new TypeError('Value has no JSON representation.')
  return encodeBase64url(json)
}

/**
 * Decodes base64url (or standard base64) of UTF-8 JSON.
 *
 * @throws Error when the text is not base64, not valid UTF-8 or not JSON. Messages from
 *   `JSON.parse` quote the input, so callers must not forward them to clients or logs.
 */
export function decodeBase64urlJson(s: string): unknown {
  const bytes = decodeBase64url(s)
  if (!isUtf8(bytes)) throw new Error('Invalid base64url JSON: not UTF-8.')
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
}
