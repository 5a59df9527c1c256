/**
 * Which settings a running gateway can take from a reloaded file, and which need a restart.
 *
 * Live (a reload applies them to the next request): routes and their prices, upstreams, limits,
 * discovery, shadow mode, the challenge secrets and lifetime.
 *
 * Restart only: what the listening socket, the ledger, the chain and the settler were built with
 * (listen address and port, ledger, chain, payee and its key, currency, session terms, settlement,
 * one-shot payments, the retry store, the admin listener)
 * and what the HTTP server and pipeline were assembled with (realm, reserved prefix, metrics
 * token, header size, body and header time-outs, trusted proxies, CORS). A reload never half-applies these: the running values
 * stay, and the changed paths are reported (never their values: some are secrets).
 */
import { deepFreeze } from './deep-freeze.js'
import type { Config } from './schema.js'

/** Top-level sections that only a restart changes. */
const restartSections = [
  'chain',
  'payee',
  'currency',
  'session',
  'ledger',
  'settlement',
  'tempoCharge',
  'idempotency',
] as const

/** Optional top-level sections that only a restart changes (present or not, as a whole). */
const restartOptionalSections = ['admin'] as const

/** `server` settings that only a restart changes. */
const restartServerKeys = [
  'host',
  'port',
  'realm',
  'reservedPrefix',
  'metricsToken',
  'maxHeaderBytes',
  'headersTimeoutMs',
  'requestBodyTimeoutMs',
  'bufferedBodyBytes',
  'shutdownGraceSeconds',
  'trustedProxies',
  'cors',
] as const

const same = (a: unknown, b: unknown) =>
  JSON.stringify(a, (_key, value: unknown) =>
    typeof value === 'bigint' ? value.toString() : value,
  ) ===
  JSON.stringify(b, (_key, value: unknown) =>
    typeof value === 'bigint' ? value.toString() : value,
  )

/** The YAML paths of restart-only settings whose value differs between `running` and `next`. */
export function restartOnlyChanges(running: Config, next: Config): string[] {
  const changed: string[] = []
  for (const key of restartServerKeys) {
    if (!same(running.server[key], next.server[key])) changed.push(`server.${key}`)
  }
  for (const section of restartSections) {
    if (same(running[section], next[section])) continue
    const keys = new Set([...Object.keys(running[section]), ...Object.keys(next[section])])
    for (const key of keys) {
      const a = (running[section] as Record<string, unknown>)[key]
      const b = (next[section] as Record<string, unknown>)[key]
      if (!same(a, b)) changed.push(`${section}.${key}`)
    }
  }
  for (const section of restartOptionalSections) {
    if (!same(running[section], next[section])) changed.push(section)
  }
  return changed
}

/** `next` with every restart-only setting kept as `running` has it: what a reload applies. */
export function liveConfig(running: Config, next: Config): Config {
  const server = { ...next.server }
  for (const key of restartServerKeys) {
    ;(server as Record<string, unknown>)[key] = running.server[key]
  }
  const kept = Object.fromEntries(
    [...restartSections, ...restartOptionalSections].map((section) => [section, running[section]]),
  )
  return deepFreeze<Config>({ ...next, ...kept, server })
}
