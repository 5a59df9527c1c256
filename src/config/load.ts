/**
 * Loads gateway.yaml: YAML → `${ENV}` expansion → schema (fields, then cross-field rules, then
 * base-unit amounts) → a deeply frozen `Config`.
 *
 * Invariants: this is the only module that reads environment variables, and it receives them as
 * a parameter; any problem, of any kind, ends in one `ConfigError` listing every problem found,
 * each with its YAML path and line; no message repeats a value taken from the environment.
 */
import { readFileSync } from 'node:fs'
import { coerceExpanded, pathKey } from './coerce-expanded.js'
import { deepFreeze } from './deep-freeze.js'
import { expandEnv, type Env } from './env-expand.js'
import { ConfigError, formatPath, type ConfigIssue, type PathSegment } from './errors.js'
import { configErrorMap, wordIssues, type PathIssue } from './issue-wording.js'
import { configSchema, type Config } from './schema.js'
import { forEachString, lineOf, parseYaml, toData, type YamlSource } from './yaml-source.js'

export type ParseConfigOptions = {
  /** The YAML text. */
  readonly text: string
  /** Environment variables for `${NAME}` references (pass `process.env` in production). */
  readonly env: Env
  /** Name of the file, for messages; defaults to "gateway.yaml". */
  readonly source?: string
}

export type LoadConfigOptions = {
  /** Path of the YAML file. */
  readonly path: string
  readonly env: Env
}

function startsWith(path: readonly PathSegment[], prefix: readonly PathSegment[]): boolean {
  return prefix.length <= path.length && prefix.every((segment, index) => segment === path[index])
}

function locate(yaml: YamlSource, issues: readonly PathIssue[]): ConfigIssue[] {
  const seen = new Set<string>()
  const located: ConfigIssue[] = []
  for (const issue of issues) {
    const path = formatPath(issue.path)
    const key = `${path}\n${issue.message}`
    if (seen.has(key)) continue
    seen.add(key)
    const line = lineOf(yaml, issue.path)
    located.push(
      line === undefined
        ? { path, message: issue.message }
        : { path, message: issue.message, line },
    )
  }
  // File order; problems without a line (rare) last. `sort` is stable, so ties keep their order.
  return located.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity))
}

/**
 * Expands `${NAME}` references in every string value of the document, in place. Returns the
 * problems (by path) and the paths of the values that were expanded.
 */
function expandReferences(
  yaml: YamlSource,
  env: Env,
): { issues: PathIssue[]; expanded: Set<string> } {
  const issues: PathIssue[] = []
  const expanded = new Set<string>()
  forEachString(yaml, ({ path, value, replace }) => {
    const expansion = expandEnv(value, env)
    if (!expansion.ok) {
      issues.push({ path, message: expansion.problem })
      return
    }
    if (expansion.expanded) expanded.add(pathKey(path))
    if (expansion.value !== value) replace(expansion.value)
  })
  return { issues, expanded }
}

/**
 * Parses and validates configuration text. Throws a `ConfigError` listing every problem.
 * @returns the configuration, deeply frozen.
 */
export function parseConfig(options: ParseConfigOptions): Config {
  const source = options.source ?? 'gateway.yaml'
  const { source: yaml, issues: syntaxIssues } = parseYaml(options.text)
  if (syntaxIssues.length > 0) throw new ConfigError(source, syntaxIssues)

  const { issues: envIssues, expanded } = expandReferences(yaml, options.env)

  const converted = toData(yaml)
  if ('problem' in converted) {
    throw new ConfigError(source, [{ path: '', message: converted.problem }])
  }
  const { data } = converted
  if (data === null || data === undefined) {
    throw new ConfigError(source, [{ path: '', message: 'the file is empty' }])
  }
  let result = configSchema.safeParse(data, { error: configErrorMap })
  if (!result.success && coerceExpanded({ data, issues: result.error.issues, expanded })) {
    result = configSchema.safeParse(data, { error: configErrorMap })
  }

  // A value whose expansion failed still holds its `${…}` text: report it once, for the expansion.
  const schemaIssues = result.success ? [] : wordIssues(result.error.issues)
  const issues = [
    ...envIssues,
    ...schemaIssues.filter((issue) => !envIssues.some((env) => startsWith(issue.path, env.path))),
  ]
  if (!result.success || issues.length > 0) throw new ConfigError(source, locate(yaml, issues))
  return deepFreeze(result.data)
}

/**
 * Reads and validates a configuration file. Throws a `ConfigError` listing every problem,
 * including an unreadable file.
 * @returns the configuration, deeply frozen.
 */
export function loadConfig(options: LoadConfigOptions): Config {
  let text: string
  try {
    text = readFileSync(options.path, 'utf8')
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? String(error.code) : 'unknown error'
    throw new ConfigError(options.path, [{ path: '', message: `cannot read the file (${code})` }])
  }
  return parseConfig({ text, env: options.env, source: options.path })
}
