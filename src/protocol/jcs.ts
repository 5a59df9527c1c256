/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the one byte-exact JSON form of a value.
 *
 * The Payment scheme puts `b64url(JCS(request))` in a challenge and binds it into the HMAC id, so
 * the same request must always serialize to the same bytes, on this gateway and in mppx.
 *
 * Invariants: object keys are sorted by UTF-16 code units (JavaScript's default string order, as
 * RFC 8785 §3.2.3 requires), recursively; `undefined` object members are dropped (they are how an
 * absent optional field looks in TypeScript); numbers use the ECMAScript shortest round-trip form
 * (`-0` becomes `0`); strings use `JSON.stringify` escaping. Anything JSON cannot represent throws
 * rather than being silently coerced: non-finite numbers, bigint, functions, symbols, `undefined`
 * at the top level or inside an array, and objects that are not plain (Date, Map, class instances),
 * whose `JSON.stringify` form would not round-trip.
 */

/**
 * Returns the RFC 8785 canonical JSON text of a value.
 *
 * @throws TypeError when the value (or anything inside it) is not representable as JSON.
 */
export function canonicalize(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('Cannot canonicalize a non-finite number.')
      return JSON.stringify(value)
    case 'object':
      if (value === null) return 'null'
      if (Array.isArray(value)) return canonicalizeArray(value)
      return canonicalizeObject(value)
    case 'bigint':
    case 'function':
    case 'symbol':
    case 'undefined':
      throw new TypeError(`Cannot canonicalize a value of type ${typeof value}.`)
  }
}

function canonicalizeArray(items: readonly unknown[]): string {
  const parts: string[] = []
  for (let i = 0; i < items.length; i++) {
    const item: unknown = items[i]
    if (item === undefined) throw new TypeError('Cannot canonicalize undefined in an array.')
    parts.push(canonicalize(item))
  }
  return `[${parts.join(',')}]`
}

function canonicalizeObject(object: object): string {
  const prototype: unknown = Object.getPrototypeOf(object)
  if (prototype !== Object.prototype && prototype !== null) {
    throw new TypeError('Cannot canonicalize an object that is not a plain object.')
  }
  const record = object as Record<string, unknown>
  const parts: string[] = []
  for (const key of Object.keys(record).sort()) {
    const member = record[key]
    if (member !== undefined) parts.push(`${JSON.stringify(key)}:${canonicalize(member)}`)
  }
  return `{${parts.join(',')}}`
}
