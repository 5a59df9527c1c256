/**
 * Where a configured gateway listens (`server.host`, `server.port`, `server.reservedPrefix`), read
 * from gateway.yaml without validating the rest of it: the container's health check runs every
 * few seconds and must not load the whole schema, the chain library and the ledger to find a port.
 * The gateway itself refuses to start on a file the full loader rejects, so a check against such a
 * file fails on its own (nothing listens).
 */
import { expandEnv, type Env } from './env-expand.js'
import { serverDefaults } from './server-defaults.js'
import { parseYaml } from './yaml-source.js'

export type ListenAddress = {
  readonly host: string
  readonly port: number
  readonly reservedPrefix: string
}

/** The listen address of a configuration, or why it cannot be read. */
export function listenAddress(
  text: string,
  env: Env,
):
  | { readonly ok: true; readonly address: ListenAddress }
  | { readonly ok: false; readonly problem: string } {
  const { source, issues } = parseYaml(text)
  if (issues.length > 0) return { ok: false, problem: 'the file is not valid YAML' }
  const field = (name: keyof ListenAddress): string | undefined => {
    const value: unknown = source.document.getIn(['server', name])
    if (value === undefined || value === null) return undefined
    if (typeof value === 'number') return String(value)
    if (typeof value !== 'string') return ''
    const expanded = expandEnv(value, env)
    return expanded.ok ? expanded.value : ''
  }
  const host = field('host') ?? serverDefaults.host
  const portText = field('port') ?? String(serverDefaults.port)
  const reservedPrefix = field('reservedPrefix') ?? serverDefaults.reservedPrefix
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN
  if (!(port >= 1 && port <= 65535)) {
    return { ok: false, problem: 'server.port is not a fixed port between 1 and 65535' }
  }
  if (host === '') return { ok: false, problem: 'server.host cannot be read' }
  if (!reservedPrefix.startsWith('/')) {
    return { ok: false, problem: 'server.reservedPrefix cannot be read' }
  }
  return { ok: true, address: { host, port, reservedPrefix } }
}

/** The readiness URL of a gateway listening at `address`, reached from the same host. */
export function readinessUrl(address: ListenAddress): string {
  // A wildcard address is reached through loopback; an IPv6 literal needs brackets.
  const host =
    address.host === '0.0.0.0' ? '127.0.0.1' : address.host === '::' ? '[::1]' : address.host
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
  return `http://${bracketed}:${address.port}${address.reservedPrefix.replace(/\/+$/, '')}/readyz`
}
