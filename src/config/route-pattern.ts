/**
 * The grammar of a route's path pattern, checked once when the configuration is loaded so the
 * route table can trust every pattern it is given.
 *
 * A pattern starts with "/" and is a list of "/"-separated segments ("/" alone is the root):
 * - literal text matches itself exactly (case-sensitive);
 * - `:name` matches exactly one non-empty segment;
 * - `*`, only as the last segment, matches the rest of the path (zero or more segments).
 * Empty segments ("//", a trailing "/"), dot segments, query or fragment characters and
 * duplicate parameter names are refused, because URL normalisation would make such a pattern
 * match something other than what it says.
 */

const parameter = /^:[A-Za-z_][A-Za-z0-9_]*$/
/** RFC 3986 path characters (pchar), minus a leading ":" which marks a parameter. */
const literal = /^[A-Za-z0-9\-._~!$&'()+,;=:@%]+$/

/** Why `pattern` is not a valid route path pattern, or `undefined` when it is. */
export function routePatternProblem(pattern: string): string | undefined {
  return patternProblem(pattern, { repeatedParameters: false })
}

function patternProblem(
  pattern: string,
  options: { readonly repeatedParameters: boolean },
): string | undefined {
  if (!pattern.startsWith('/')) return 'must start with "/"'
  if (pattern === '/') return undefined
  const segments = pattern.slice(1).split('/')
  const names = new Set<string>()
  for (const [index, segment] of segments.entries()) {
    if (segment === '') return 'must not contain empty segments ("//" or a trailing "/")'
    if (segment === '*') {
      if (index !== segments.length - 1) return '"*" may only be the last segment'
      continue
    }
    if (segment.startsWith(':')) {
      if (!parameter.test(segment)) {
        return `segment "${segment}": ":" must be followed by a parameter name (letters, digits, "_")`
      }
      if (names.has(segment) && !options.repeatedParameters) {
        return `parameter "${segment}" appears twice`
      }
      names.add(segment)
      continue
    }
    if (segment === '.' || segment === '..') return 'must not contain "." or ".." segments'
    if (!literal.test(segment)) {
      return `segment "${segment}" has characters that are not allowed here ("*" must be a whole segment; no "?", "#" or spaces)`
    }
  }
  return undefined
}

/** Why `prefix` cannot be the reserved prefix: it must be a literal path of at least one segment. */
export function reservedPrefixProblem(prefix: string): string | undefined {
  if (prefix === '/') return 'must name at least one path segment, e.g. "/__gateway"'
  const problem = routePatternProblem(prefix)
  if (problem !== undefined) return problem
  if (prefix.split('/').some((segment) => segment === '*' || segment.startsWith(':'))) {
    return 'must be a literal path, without ":param" or "*" segments'
  }
  return undefined
}

/** Whether `pattern` lies inside the path `prefix`, comparing whole segments. */
export function isUnderPrefix(pattern: string, prefix: string): boolean {
  return pattern === prefix || pattern.startsWith(`${prefix}/`)
}

/**
 * Why `template` cannot be a route's `upstreamPath`: the same grammar as a pattern (literal
 * segments, `:name`, a final `*`), except that a parameter may appear more than once. Which
 * parameters it may use depends on the route's own path (cross-checks.ts).
 */
export function upstreamPathProblem(template: string): string | undefined {
  return patternProblem(template, { repeatedParameters: true })
}

/** The `:name` parameters of a pattern or template (without ":"), and whether it ends in `*`. */
export function patternParameters(pattern: string): { names: string[]; rest: boolean } {
  const segments = pattern.split('/').filter((segment) => segment !== '')
  return {
    names: segments.filter((s) => s.startsWith(':')).map((s) => s.slice(1)),
    rest: segments.at(-1) === '*',
  }
}
