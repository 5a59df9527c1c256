/**
 * The one rule that says which credentials an `Authorization` header carries. The credential
 * parser (protocol/credential.ts) and the upstream header filter (upstream/headers.ts) both use
 * it, so what the gateway reads as the payment and what it keeps from the upstream cannot differ.
 *
 * Reading a field value: it is a comma-separated list (RFC 9110 §5.6.1; a comma inside a quoted
 * string does not separate, empty elements are ignored). An element that begins `name =` is an
 * auth-param and continues the credential before it (`Digest username="a", realm="b"` is one
 * credential); any other element starts a credential whose scheme is its first token. The same
 * reading splits a `WWW-Authenticate` value into challenges.
 *
 * Invariant: a Payment credential counts only when it is alone — one `Authorization` field
 * holding one credential. Anything else that holds a Payment credential (`Bearer t, Payment …`,
 * two Payment credentials, a second `Authorization` line) is `ambiguous`, and the gate refuses it
 * with `400 multiple-credentials` on every route before any payment work.
 *
 * Why refuse instead of stripping the Payment items and forwarding the rest: HTTP allows one
 * credential per `Authorization` header, so a client that sends several is confused or probing,
 * and no reading of its intent is safe — mppx servers take the first Payment item, other
 * components take the first item or the whole line. Refusing leaves no line that the gateway
 * reads one way and an upstream another. As a second line of defence the header filter drops
 * every `Authorization` line that holds a Payment credential anywhere in it.
 */

/** What the `Authorization` fields of a request carry, as far as payment is concerned. */
export type PaymentAuthorization =
  /** No Payment credential anywhere (absent, or other schemes only). */
  | { readonly kind: 'none' }
  /** Exactly one field holding exactly one credential, a Payment one; `item` is its text. */
  | { readonly kind: 'payment'; readonly item: string }
  /** A Payment credential together with anything else: refused. */
  | { readonly kind: 'ambiguous' }

const authParamStart = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*=/
const paymentScheme = /^payment(?:\s|$)/i

/**
 * The credentials (or challenges) of one header value, each with its auth-params, trimmed, in
 * order. See the module header for the rule.
 */
export function authItems(value: string): string[] {
  const items: string[] = []
  for (const element of splitList(value)) {
    const part = element.trim()
    if (part === '') continue
    if (authParamStart.test(part) && items.length > 0) {
      items[items.length - 1] += `, ${part}`
    } else {
      items.push(part)
    }
  }
  return items
}

/** True when `item` (one element of {@link authItems}) uses the Payment scheme. */
export function isPaymentItem(item: string): boolean {
  return paymentScheme.test(item)
}

/** True when a header value holds a Payment credential (or challenge) anywhere in it. */
export function holdsPaymentCredential(value: string): boolean {
  // Fast path: most values never mention the scheme.
  return /payment/i.test(value) && authItems(value).some(isPaymentItem)
}

/** What the request's `Authorization` field values (every line, in order) carry. */
export function paymentAuthorization(fields: readonly string[]): PaymentAuthorization {
  const holding = fields.filter(holdsPaymentCredential)
  if (holding.length === 0) return { kind: 'none' }
  if (fields.length !== 1) return { kind: 'ambiguous' }
  const items = authItems(fields[0]!)
  return items.length === 1 ? { kind: 'payment', item: items[0]! } : { kind: 'ambiguous' }
}

/** Splits a header value at the commas that are not inside a quoted string. */
function splitList(value: string): string[] {
  const parts: string[] = []
  let start = 0
  let quoted = false
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (quoted) {
      if (c === 0x5c) i++
      else if (c === 0x22) quoted = false
    } else if (c === 0x22) {
      quoted = true
    } else if (c === 0x2c) {
      parts.push(value.slice(start, i))
      start = i + 1
    }
  }
  parts.push(value.slice(start))
  return parts
}
