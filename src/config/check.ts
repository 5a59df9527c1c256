/**
 * `mpp-gateway check --config FILE`: validates a configuration and, when it is valid, summarises
 * what the gateway would do — routes with their prices, upstreams, chain, ledger.
 *
 * Invariant: the summary never contains a secret. Header values, the challenge secrets, the
 * signer key and Redis credentials are left out or masked; RPC URLs are cut to their origin,
 * since providers put API keys in the path or query.
 */
import { ConfigError, formatIssues, type ConfigIssue } from './errors.js'
import type { Env } from './env-expand.js'
import { loadConfig } from './load.js'
import type { Config, RouteConfig } from './schema.js'

/** The outcome of checking a configuration file. */
export type CheckResult =
  | { readonly ok: true; readonly summary: string }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[]; readonly report: string }

const masked = '***'

/** Origin of a URL plus a marker when it had more (path, query or credentials) that is hidden. */
function originOnly(url: string): string {
  const parsed = new URL(url)
  const hidden = parsed.href !== `${parsed.origin}/` && parsed.href !== parsed.origin
  return hidden ? `${parsed.origin}/${masked}` : parsed.origin
}

function redisTarget(url: string): string {
  const parsed = new URL(url)
  const auth = parsed.username !== '' || parsed.password !== '' ? `${masked}@` : ''
  return `${parsed.protocol}//${auth}${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`
}

function redisTargets(redis: {
  url?: string | undefined
  cluster?: { nodes: readonly string[] } | undefined
  sentinel?: { name: string; nodes: readonly string[] } | undefined
}): string {
  if (redis.cluster) return `cluster ${redis.cluster.nodes.map(redisTarget).join(', ')}`
  if (redis.sentinel) {
    return `sentinel "${redis.sentinel.name}" via ${redis.sentinel.nodes.map(redisTarget).join(', ')}`
  }
  return redisTarget(redis.url ?? '')
}

function priceText(route: RouteConfig, shadowByDefault: boolean): string {
  if (route.price.kind === 'free') return 'free'
  const statuses = route.servedStatuses.join(',')
  const when = route.charge === 'always' ? 'always' : `on ${statuses}`
  const shadow = (route.shadow ?? shadowByDefault) ? ', shadow mode: not enforced' : ''
  const intents =
    route.intents.join() === 'session' ? '' : `, paid by ${route.intents.join(' or ')}`
  const metered = route.metered
  if (metered) {
    const source =
      metered.units.kind === 'bytes'
        ? `${metered.units.per} bytes`
        : metered.units.kind === 'json'
          ? metered.units.path.join('.')
          : `header ${metered.units.name}`
    return `at most ${route.price.text} (${route.price.amount} base units): ${metered.base} + ${metered.perUnit} per ${source}, base units, charged ${when}${intents}${shadow}`
  }
  return `${route.price.text} (${route.price.amount} base units, charged ${when}${intents}${shadow})`
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = []
  for (const row of rows) {
    row.forEach((cell, index) => {
      widths[index] = Math.max(widths[index] ?? 0, cell.length)
    })
  }
  return rows.map((row) =>
    row
      .map((cell, index) => (index === row.length - 1 ? cell : cell.padEnd(widths[index] ?? 0)))
      .join('  ')
      .trimEnd(),
  )
}

/** A human-readable summary of a valid configuration, free of secrets. */
export function summarizeConfig(config: Config): string {
  const { server, chain, payee, currency, session, ledger } = config
  const token = currency.token
  const ledgerText =
    ledger.type === 'redis'
      ? `redis ${redisTargets(ledger.redis)} (key prefix "${ledger.redis.keyPrefix}"${ledger.redis.requireDurable ? ', durable required' : ''}${ledger.redis.minReplicas > 0 ? `, ${ledger.redis.minReplicas} replica(s) acknowledge each voucher` : ''})`
      : 'memory (single process; state is lost on restart)'
  const upstreamRows = Object.entries(config.upstreams).map(([name, upstream]) => {
    const headers = Object.keys(upstream.headers)
      .map((header) => `${header}: ${masked}`)
      .join(', ')
    return [`  ${name}`, upstream.baseUrl, headers === '' ? '' : `headers ${headers}`]
  })
  const routeRows = config.routes.map((route) => [
    `  ${route.method}`,
    route.path,
    `→ ${route.upstream}${route.upstreamPath === undefined ? '' : ` ${route.upstreamPath}`}`,
    priceText(route, server.shadow),
  ])
  return [
    `server     ${server.host}:${server.port}, realm "${server.realm}", reserved prefix ${server.reservedPrefix}` +
      `, ${1 + server.previousChallengeSecrets.length} challenge secret(s)` +
      `, metrics ${server.metricsToken === undefined ? 'off' : 'on (bearer token)'}` +
      `, CORS ${server.cors === undefined ? 'off' : `for ${server.cors.allowedOrigins.join(' ')}`}`,
    `chain      ${chain.network} (chain id ${chain.chainId}) via ${originOnly(chain.rpcUrl)}, escrow ${chain.escrow}`,
    `payee      ${payee.address}, signing as ${payee.signerAddress}` +
      (payee.operator === undefined ? '' : `, operator ${payee.operator}`),
    `currency   ${token} (${currency.decimals} decimals), fees paid in ${currency.feeToken}`,
    `session    suggested deposit ${session.suggestedDeposit.text}, min voucher delta ${session.minVoucherDelta.text}` +
      `, min deposit ${session.minDeposit.text}`,
    `ledger     ${ledgerText}`,
    `admin      ${
      config.admin === undefined
        ? 'off'
        : `${config.admin.host}:${config.admin.port} (bearer token${config.admin.allowNonLoopback ? ', non-loopback allowed' : ''})`
    }`,
    'upstreams',
    ...table(upstreamRows),
    'routes (first match wins)',
    ...table(routeRows),
  ].join('\n')
}

/**
 * Loads and validates the configuration at `path` with `env` for `${NAME}` references.
 * @returns a secret-free summary when valid, otherwise every problem (and a printable report).
 */
export function checkConfig(path: string, env: Env): CheckResult {
  try {
    return { ok: true, summary: summarizeConfig(loadConfig({ path, env })) }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    return { ok: false, issues: error.issues, report: formatIssues(error.source, error.issues) }
  }
}
