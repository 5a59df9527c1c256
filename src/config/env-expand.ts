/**
 * `${ENV}` references in configuration values: how secrets and per-deployment values reach
 * gateway.yaml without being written in it.
 *
 * Syntax, inside any string value:
 * - `${NAME}` — the variable's value (set but empty gives ""); unset is an error.
 * - `${NAME:-default}` — the value, or the literal `default` when unset or empty.
 * - `$${` — a literal `${`; a `$` not followed by `{` is literal too.
 * Names are `[A-Za-z_][A-Za-z0-9_]*`; defaults are literal text without `}`.
 *
 * Invariant: problems name the variables and the syntax, never a variable's value.
 */

/** Environment variables, as `process.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>

/** The expanded text (`expanded` tells whether a reference was substituted), or why it failed. */
export type Expansion =
  | { readonly ok: true; readonly value: string; readonly expanded: boolean }
  | { readonly ok: false; readonly problem: string }

const reference = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([^]*))?$/

/** Substitutes every `${…}` reference in `text` from `env`. */
export function expandEnv(text: string, env: Env): Expansion {
  let value = ''
  let expanded = false
  const missing: string[] = []
  let at = 0
  while (at < text.length) {
    const dollar = text.indexOf('$', at)
    if (dollar === -1) {
      value += text.slice(at)
      break
    }
    value += text.slice(at, dollar)
    if (text.startsWith('$${', dollar)) {
      value += '${'
      at = dollar + 3
      continue
    }
    if (!text.startsWith('${', dollar)) {
      value += '$'
      at = dollar + 1
      continue
    }
    const close = text.indexOf('}', dollar + 2)
    if (close === -1) {
      return {
        ok: false,
        problem: 'has a "${" without its closing "}" (write "$${" for a literal "${")',
      }
    }
    const match = reference.exec(text.slice(dollar + 2, close))
    if (match === null) {
      return {
        ok: false,
        problem: `has a malformed reference "${text.slice(dollar, close + 1)}"; write \${NAME} or \${NAME:-default}`,
      }
    }
    const name = match[1] ?? ''
    const fallback = match[2]
    const found = env[name]
    if (fallback !== undefined && (found === undefined || found === '')) value += fallback
    else if (found !== undefined) value += found
    else missing.push(name)
    expanded = true
    at = close + 1
  }
  if (missing.length > 0) {
    const names = missing.join(', ')
    return {
      ok: false,
      problem:
        missing.length === 1
          ? `environment variable ${names} is not set (and the reference has no :-default)`
          : `environment variables ${names} are not set (and their references have no :-default)`,
    }
  }
  return { ok: true, value, expanded }
}
