/**
 * RFC 9110 auth-param codec for the `Payment` scheme, as used in `WWW-Authenticate` challenges
 * (and the parameter form of `Authorization`).
 *
 * Formatting follows mppx byte for byte: `Payment name="value", …`, every value a quoted-string,
 * `\` and `"` backslash-escaped, code units above U+00FF written as `\uXXXX` so the result is
 * always a legal (Latin-1) header value. Control characters other than HTAB are also written as
 * `\u00XX` (mppx leaves them raw, which makes Node reject the header); CR and LF throw instead,
 * because a newline in a challenge value is a bug or an injection attempt, never data.
 *
 * Parsing is what an mppx client does: a header value may carry several challenges, split at a
 * `Payment` token that starts the value or follows a `,` outside quotes; other schemes are
 * skipped; names are case-insensitive (returned lowercased); a duplicate name throws; values are
 * tokens or quoted-strings, with `\"`, `\\` and `\uXXXX` unescaped. `parse(format(p))` returns `p`.
 */

/** One auth-param in wire order. */
export type AuthParam = readonly [name: string, value: string]

const scheme = 'payment'
const tokenCharacter = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/
const tokenName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const needsEscape = /[\\"\u0000-\u0008\u000a-\u001f\u007f\u0100-\uffff]/
const escapable = /[\\"\u0000-\u0008\u000a-\u001f\u007f\u0100-\uffff]/g
const lineBreak = /[\r\n]/
const whitespace = /\s/

/**
 * Formats a `Payment` challenge header value from its params, in the given order.
 *
 * @throws Error when a name is not an RFC 9110 token or a value contains CR or LF.
 */
export function formatPaymentChallenge(params: readonly AuthParam[]): string {
  const parts: string[] = []
  for (const [name, value] of params) {
    if (!tokenName.test(name)) throw new Error('Invalid auth-param name.')
    parts.push(`${name}="${quote(value)}"`)
  }
  return `Payment ${parts.join(', ')}`
}

function quote(value: string): string {
  // Fast path: most values (ids, base64url, timestamps) need no escaping at all.
  if (!needsEscape.test(value)) return value
  if (lineBreak.test(value)) throw new Error('Invalid auth-param value: CR or LF.')
  return value.replace(escapable, (char) => {
    if (char === '\\' || char === '"') return `\\${char}`
    return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`
  })
}

/**
 * Parses every `Payment` challenge in one header value; other schemes are skipped.
 *
 * @returns One record per challenge (names lowercased), in header order; `[]` when there is none.
 * @throws Error on a malformed param, an unterminated quoted-string or a duplicate name.
 */
export function parsePaymentChallenges(headerValue: string): Record<string, string>[] {
  const starts = findSchemeStarts(headerValue)
  return starts.map((start, index) =>
    parseParams(headerValue.slice(start + scheme.length, starts[index + 1] ?? headerValue.length)),
  )
}

/** Indexes of `Payment` scheme tokens at the start of the value or after a `,`, outside quotes. */
function findSchemeStarts(value: string): number[] {
  const starts: number[] = []
  let inQuotes = false
  let escaped = false
  let atBoundary = true
  for (let i = 0; i < value.length; i++) {
    const char = value[i] as string
    if (inQuotes) {
      if (escaped) escaped = false
      else if (char === '\\') escaped = true
      else if (char === '"') inQuotes = false
      continue
    }
    if (char === '"') {
      inQuotes = true
      atBoundary = false
    } else if (char === ',') {
      atBoundary = true
    } else if (!whitespace.test(char)) {
      if (atBoundary && isSchemeToken(value, i)) starts.push(i)
      atBoundary = false
    }
  }
  return starts
}

function isSchemeToken(value: string, index: number): boolean {
  const next = value[index + scheme.length]
  return (
    next !== undefined &&
    whitespace.test(next) &&
    value.slice(index, index + scheme.length).toLowerCase() === scheme
  )
}

/** Parses the auth-params after one scheme token, stopping where another scheme begins. */
function parseParams(input: string): Record<string, string> {
  const params = new Map<string, string>()
  let i = 0
  for (;;) {
    while (i < input.length && (input[i] === ',' || whitespace.test(input[i] as string))) i++
    if (i >= input.length) break
    const nameStart = i
    while (i < input.length && tokenCharacter.test(input[i] as string)) i++
    if (i === nameStart) throw new Error('Malformed auth-param: expected a name.')
    const name = input.slice(nameStart, i).toLowerCase()
    while (i < input.length && whitespace.test(input[i] as string)) i++
    // A token without `=` is the next scheme (for example `Bearer realm="x"`): stop here.
    if (input[i] !== '=') break
    i++
    while (i < input.length && whitespace.test(input[i] as string)) i++
    const [value, next] = input[i] === '"' ? readQuoted(input, i + 1) : readToken(input, i)
    i = next
    if (params.has(name)) throw new Error(`Duplicate auth-param: ${name}.`)
    params.set(name, value)
  }
  return Object.fromEntries(params)
}

function readToken(input: string, start: number): [value: string, next: number] {
  let i = start
  while (i < input.length && input[i] !== ',' && input[i] !== '"') {
    if (whitespace.test(input[i] as string)) break
    i++
  }
  if (i === start) throw new Error('Malformed auth-param: empty value.')
  return [input.slice(start, i), i]
}

function readQuoted(input: string, start: number): [value: string, next: number] {
  let out = ''
  let segmentStart = start
  let i = start
  while (i < input.length) {
    const char = input[i]
    if (char === '"') return [out + input.slice(segmentStart, i), i + 1]
    if (char !== '\\') {
      i++
      continue
    }
    out += input.slice(segmentStart, i)
    const escapedChar = input[i + 1]
    if (escapedChar === undefined) break
    const hex = escapedChar === 'u' ? input.slice(i + 2, i + 6) : ''
    if (/^[0-9A-Fa-f]{4}$/.test(hex)) {
      out += String.fromCharCode(Number.parseInt(hex, 16))
      i += 6
    } else {
      out += escapedChar
      i += 2
    }
    segmentStart = i
  }
  throw new Error('Malformed auth-param: unterminated quoted-string.')
}
