/**
 * Where the `mpp-gateway admin …` commands find the admin API and its token: `admin.host`,
 * `admin.port` and `admin.token` of a gateway.yaml, read (with `${ENV}` expansion) without
 * validating the rest of the file — an operator's shell needs the admin token, not the payee key
 * or the challenge secret the gateway itself must have.
 *
 * Invariant: a problem never quotes the token or any expanded value.
 */
import { adminDefaults } from './admin.js'
import { expandEnv, type Env } from './env-expand.js'
import { parseYaml } from './yaml-source.js'

export type AdminEndpoint = { readonly url: string; readonly token: string }

export function adminEndpoint(
  text: string,
  env: Env,
):
  | { readonly ok: true; readonly endpoint: AdminEndpoint }
  | { readonly ok: false; readonly problem: string } {
  const { source, issues } = parseYaml(text)
  if (issues.length > 0) return { ok: false, problem: 'the file is not valid YAML' }
  if (source.document.get('admin') == null) {
    return {
      ok: false,
      problem: 'the file has no admin: section, so the gateway serves no admin API',
    }
  }
  const field = (name: string): string | undefined => {
    const value: unknown = source.document.getIn(['admin', name])
    if (value === undefined || value === null) return undefined
    if (typeof value === 'number') return String(value)
    if (typeof value !== 'string') return ''
    const expanded = expandEnv(value, env)
    return expanded.ok ? expanded.value : ''
  }
  const token = field('token')
  if (token === undefined || token === '') {
    return { ok: false, problem: 'admin.token is missing or names a variable that is not set' }
  }
  const host = field('host') ?? adminDefaults.host
  const portText = field('port') ?? String(adminDefaults.port)
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN
  if (!(port >= 1 && port <= 65535)) {
    return {
      ok: false,
      problem: 'admin.port is not a fixed port between 1 and 65535 (use --admin-url)',
    }
  }
  if (host === '') return { ok: false, problem: 'admin.host cannot be read' }
  // A wildcard address is reached through loopback; an IPv6 literal needs brackets.
  const reached = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  const bracketed = reached.includes(':') && !reached.startsWith('[') ? `[${reached}]` : reached
  return { ok: true, endpoint: { url: `http://${bracketed}:${port}`, token } }
}
