/**
 * Numbers and booleans that arrive through `${ENV}`. Expansion always yields text, so
 * `chainId: ${DEVNET_CHAIN_ID}` holds the string "1337" where the schema wants a number.
 *
 * Such a value is retyped only when both hold: it came from an expansion, and the schema asked for
 * a number (or a boolean) at exactly that path. A number the operator quoted by hand stays an
 * error, and text fields (secrets, keys, addresses) are never touched, whatever they look like.
 * Amounts are not numbers in the schema, so they are never retyped either.
 */
/** The part of a schema problem this step needs. */
export type TypeIssue = {
  readonly code: string
  readonly expected?: string
  readonly path?: readonly PropertyKey[] | undefined
}

/** A key identifying a path, for sets of paths. */
export function pathKey(path: readonly PropertyKey[]): string {
  return JSON.stringify(path.map((segment) => (typeof segment === 'symbol' ? '' : segment)))
}

const decimalNumber = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/

function retype(text: string, expected: string): number | boolean | undefined {
  if ((expected === 'number' || expected === 'int') && decimalNumber.test(text)) return Number(text)
  if (expected === 'boolean' && (text === 'true' || text === 'false')) return text === 'true'
  return undefined
}

function isContainer(value: unknown): value is Record<PropertyKey, unknown> {
  return typeof value === 'object' && value !== null
}

/**
 * Retypes, in place, the expanded strings that the schema rejected for not being a number or a
 * boolean. Returns whether anything changed (then the data must be validated again).
 */
export function coerceExpanded(options: {
  data: unknown
  issues: readonly TypeIssue[]
  expanded: ReadonlySet<string>
}): boolean {
  let changed = false
  for (const issue of options.issues) {
    const path = issue.path ?? []
    const expected = issue.expected
    if (issue.code !== 'invalid_type' || expected === undefined || path.length === 0) continue
    if (!options.expanded.has(pathKey(path))) continue
    let parent: unknown = options.data
    for (const segment of path.slice(0, -1))
      parent = isContainer(parent) ? parent[segment] : undefined
    const last = path[path.length - 1]
    if (last === undefined || !isContainer(parent)) continue
    const current = parent[last]
    if (typeof current !== 'string') continue
    const value = retype(current, expected)
    if (value === undefined) continue
    parent[last] = value
    changed = true
  }
  return changed
}
