/**
 * RFC 9530 body digests for the challenge `digest` parameter (protocol.md §1.7).
 *
 * Invariants: the gateway emits only the RFC 9530 form `sha-256=:<std base64>:`. When verifying
 * it also accepts mppx's bare `sha-256=<std base64>` (mppx `BodyDigest.compute` emits it, without
 * padding), padded or not; any other algorithm or shape is a mismatch, never an error.
 */
import { createHash, timingSafeEqual } from 'node:crypto'

const sha256Length = 32
const digestForms = [
  /^sha-256=:([A-Za-z0-9+/]+={0,2}):$/,
  /^sha-256=([A-Za-z0-9+/]+={0,2})$/,
] as const

/** The RFC 9530 SHA-256 digest of a body: `sha-256=:<std base64>:`. */
export function bodyDigest(body: Uint8Array): string {
  return `sha-256=:${sha256(body).toString('base64')}:`
}

/**
 * Whether a digest value (`sha-256=:b64:` or bare `sha-256=b64`) matches the body.
 * Malformed values and other algorithms return false.
 */
export function verifyBodyDigest(header: string, body: Uint8Array): boolean {
  const value = header.trim()
  for (const form of digestForms) {
    const encoded = form.exec(value)?.[1]
    if (encoded === undefined) continue
    const claimed = Buffer.from(encoded, 'base64')
    return claimed.length === sha256Length && timingSafeEqual(claimed, sha256(body))
  }
  return false
}

function sha256(body: Uint8Array): Buffer {
  return createHash('sha256').update(body).digest()
}
