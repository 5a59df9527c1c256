/**
 * How a bad gateway.yaml is reported: every problem at once, each tied to its YAML path.
 *
 * Invariants: an issue message never contains a secret: messages speak of keys, limits and the
 * kind of a value, and repeat only route syntax (path segments, upstream names), never the value
 * of a field or of an environment variable. Paths are written the way an operator reads YAML:
 * `routes[2].price`, `upstreams.dune.baseUrl`.
 */

/** One problem in the configuration. `path` is empty for the document as a whole. */
export type ConfigIssue = {
  readonly path: string
  readonly message: string
  /** 1-based line in the source file, when the problem can be pinned to one. */
  readonly line?: number
}

/** One step of a path into the configuration: a map key or a list index. */
export type PathSegment = string | number

const plainKey = /^[A-Za-z_][\w-]*$/

/** Writes a path the way an operator reads YAML: `routes[2].price`, `upstreams["a.b"].baseUrl`. */
export function formatPath(segments: readonly PathSegment[]): string {
  let text = ''
  for (const segment of segments) {
    if (typeof segment === 'number') text += `[${segment}]`
    else if (plainKey.test(segment)) text += text === '' ? segment : `.${segment}`
    else text += `[${JSON.stringify(segment)}]`
  }
  return text
}

/** Renders issues as a multi-line report, one problem per line, in file order. */
export function formatIssues(source: string, issues: readonly ConfigIssue[]): string {
  const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`
  const lines = issues.map((issue) => {
    const where = issue.path === '' ? '(document)' : issue.path
    const line = issue.line === undefined ? '' : ` (line ${issue.line})`
    return `  - ${where}${line}: ${issue.message}`
  })
  return [`${source}: ${count}`, ...lines].join('\n')
}

/** The gateway's configuration cannot be used; `issues` lists every problem found. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[]
  readonly source: string

  constructor(source: string, issues: readonly ConfigIssue[]) {
    super(formatIssues(source, issues))
    this.name = 'ConfigError'
    this.source = source
    this.issues = issues
  }
}
