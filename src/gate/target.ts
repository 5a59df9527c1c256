/**
 * The request target: the path the gate routes and prices, and the bytes the upstream receives.
 *
 * The route table matches the path percent-decoded (escapes of reserved characters such as `%2F`
 * stay escaped, and the route table refuses them); the upstream receives the raw target exactly
 * as the client wrote it, minus any fragment. Why raw: a decoded path stops being a valid request
 * target once it holds a space, a control character or non-ASCII (undici refuses it), and
 * re-encoding it would change bytes an upstream may compare or sign. Forwarding what arrived
 * keeps the request that was priced and the request that is served the same.
 *
 * Invariants:
 * - `target` is origin-form (`/path?query`), never holds a fragment (RFC 9112 §3.2: clients do
 *   not send one; a `#` and what follows are cut, so `/free#?../paid` is `/free`), and every
 *   byte of it is visible ASCII.
 * - `path` is what `target`'s path decodes to; routing on it and forwarding `target` describe the
 *   same resource, because the route table refuses every path an upstream could read as another
 *   one (dot segments, encoded `/`, `\`, `.`).
 * - An absolute-form target (`http://host/p?q`) is reduced to its origin-form (`/p?q`): the
 *   gateway serves its own upstreams, whatever host a client names.
 *
 * Refused (`400 bad-request-target`, before any routing or payment work, never forwarded):
 * - a target that is neither origin-form nor absolute-form (`*`, `x/y`);
 * - a raw byte outside visible ASCII (Node's parser refuses most of these already);
 * - a `%` not followed by two hex digits, or escapes that do not decode to UTF-8;
 * - an escape that decodes to a control character (C0 or DEL): no API path holds one, and
 *   upstreams that turn paths into file names, log lines or queries are where such bytes harm.
 */

export type RequestTarget =
  | {
      readonly kind: 'origin'
      /** The decoded path the route table matches (no query). */
      readonly path: string
      /** What the upstream receives after its base path: the raw path and query. */
      readonly target: string
      readonly hasQuery: boolean
    }
  | { readonly kind: 'invalid'; readonly reason: string }

const absoluteForm = /^https?:\/\/[^/?#]*/i
const visibleAscii = /^[\x21-\x7e]*$/
const badEscape = /%(?![0-9A-Fa-f]{2})/
const controlCharacter = /[\x00-\x1f\x7f]/

/** Parses `IncomingMessage.url` (the request-target as received). */
export function parseRequestTarget(raw: string): RequestTarget {
  const hash = raw.indexOf('#')
  let target = hash === -1 ? raw : raw.slice(0, hash)
  const absolute = absoluteForm.exec(target)
  if (absolute) {
    target = target.slice(absolute[0].length)
    if (!target.startsWith('/')) target = `/${target}`
  }
  if (!target.startsWith('/')) return invalid('The request target is not a path.')
  if (!visibleAscii.test(target))
    return invalid('The request target holds raw bytes outside ASCII.')
  const query = target.indexOf('?')
  const rawPath = query === -1 ? target : target.slice(0, query)
  if (badEscape.test(rawPath)) return invalid('The path holds a malformed percent-escape.')
  let path: string
  try {
    // decodeURI keeps the escapes of reserved characters (`%2F`, `%3F`, `%23`, …).
    path = decodeURI(rawPath)
  } catch {
    return invalid('The path does not decode to UTF-8.')
  }
  if (controlCharacter.test(path)) return invalid('The path holds an encoded control character.')
  return { kind: 'origin', path, target, hasQuery: query !== -1 }
}

function invalid(reason: string): RequestTarget {
  return { kind: 'invalid', reason }
}
