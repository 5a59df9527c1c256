/**
 * Rules that relate two or more fields of gateway.yaml: a route names a defined upstream and stays
 * out of the reserved prefix, amounts fit the currency's decimals, the chain id matches the
 * network, the signer key belongs to the payee or the operator, the Redis section matches the
 * ledger type, an upstream's total deadline is not shorter than its head deadline, an upstream
 * that takes the client's own Authorization does not inject one, the discovery documents have
 * paths of their own, and a route offers only intents the gateway has configured.
 *
 * These run even when some fields are invalid, so the operator sees every problem in one pass.
 * Invariant: a rule reads a field only when nothing was reported at that field or above it — the
 * field then holds its parsed value; otherwise the rule stays silent rather than guess.
 */
import { privateKeyToAddress } from 'viem/accounts'
import type { PathSegment } from './errors.js'
import { toBaseUnits, type ExactDecimal } from './decimal-amount.js'
import { publicNetworks } from './networks.js'
import { isUnderPrefix, patternParameters } from './route-pattern.js'
import type { ConfigShape } from './shape.js'

/** A problem found so far, as far as these rules need to know it. */
export type PriorIssue = {
  readonly code: string
  readonly path?: readonly PropertyKey[] | undefined
}

/** A cross-field problem, at the path of the field that should change. */
export type CrossIssue = { readonly path: PathSegment[]; readonly message: string }

type Rules = {
  readonly config: ConfigShape
  /** True when nothing was reported at `path` or above it, so the value there is parsed. */
  readonly intact: (...path: PathSegment[]) => boolean
  readonly report: (path: PathSegment[], message: string) => void
}

/**
 * Every cross-field problem of a (possibly partly invalid) parsed configuration. `prior` are the
 * problems already found field by field; fields they touch are not read.
 */
export function crossFieldIssues(config: ConfigShape, prior: readonly PriorIssue[]): CrossIssue[] {
  const found: CrossIssue[] = []
  const rules: Rules = {
    config,
    // An unknown key does not make its siblings unreliable, so it does not count here.
    intact: (...path) =>
      !prior.some((issue) => {
        const at = issue.path ?? []
        return (
          issue.code !== 'unrecognized_keys' &&
          at.length <= path.length &&
          at.every((segment, index) => segment === path[index])
        )
      }),
    report: (path, message) => found.push({ path, message }),
  }
  checkChain(rules)
  checkSigner(rules)
  checkLedger(rules)
  checkSession(rules)
  checkRoutes(rules)
  checkUpstreams(rules)
  checkUpstreamAuthorization(rules)
  checkDiscovery(rules)
  return found
}

function checkChain({ config, intact, report }: Rules): void {
  if (!intact('chain', 'network')) return
  const { network, rpcUrl, chainId } = config.chain
  const profile = publicNetworks[network]
  if (profile === undefined) {
    if (intact('chain', 'rpcUrl') && rpcUrl === undefined) {
      report(['chain', 'rpcUrl'], `is required when network is ${network}`)
    }
    if (intact('chain', 'chainId') && chainId === undefined) {
      report(['chain', 'chainId'], `is required when network is ${network}`)
    }
  } else if (intact('chain', 'chainId') && chainId !== undefined && chainId !== profile.chainId) {
    report(
      ['chain', 'chainId'],
      `${network} is chain ${profile.chainId}; set chainId to ${profile.chainId} or remove it`,
    )
  }
}

/** The signer settles and closes channels, which the escrow only allows the payee or operator. */
function checkSigner({ config, intact, report }: Rules): void {
  if (
    !intact('payee', 'signerKey') ||
    !intact('payee', 'address') ||
    !intact('payee', 'operator')
  ) {
    return
  }
  const { address, operator, signerKey } = config.payee
  const signer = privateKeyToAddress(signerKey)
  if (signer === address || signer === operator) return
  report(
    ['payee', 'signerKey'],
    operator === undefined
      ? `is the key of ${signer}, not of payee.address (to sign as an operator, set payee.operator)`
      : `is the key of ${signer}, which is neither payee.address nor payee.operator`,
  )
}

function checkLedger({ config, intact, report }: Rules): void {
  if (!intact('ledger')) return
  const { type, redis } = config.ledger
  if (intact('ledger', 'type') && type === 'redis' && redis === undefined) {
    report(['ledger', 'redis'], 'is required when ledger.type is redis')
  }
  if (intact('ledger', 'type') && type === 'memory' && redis !== undefined) {
    report(['ledger', 'redis'], 'is only allowed when ledger.type is redis')
  }
  if (redis !== undefined && intact('ledger', 'redis')) {
    const targets = [redis.url, redis.cluster, redis.sentinel].filter((t) => t !== undefined)
    if (targets.length !== 1) {
      report(['ledger', 'redis'], 'needs exactly one of url, cluster and sentinel')
    }
  }
}

/** Reports why an amount does not fit the currency; returns its base units when it does. */
function checkAmount(
  rules: Rules,
  field: { path: PathSegment[]; decimal: ExactDecimal },
): bigint | undefined {
  if (!rules.intact('currency', 'decimals')) return undefined
  const converted = toBaseUnits(field.decimal, rules.config.currency.decimals)
  if (converted.ok) return converted.value
  rules.report(field.path, converted.problem)
  return undefined
}

function checkSession(rules: Rules): void {
  if (!rules.intact('session')) return
  const { suggestedDeposit, minVoucherDelta, minDeposit } = rules.config.session
  let suggested: bigint | undefined
  if (rules.intact('session', 'suggestedDeposit')) {
    suggested = checkAmount(rules, {
      path: ['session', 'suggestedDeposit'],
      decimal: suggestedDeposit,
    })
    if (suggested === 0n) rules.report(['session', 'suggestedDeposit'], 'must be greater than 0')
  }
  if (rules.intact('session', 'minVoucherDelta')) {
    checkAmount(rules, { path: ['session', 'minVoucherDelta'], decimal: minVoucherDelta })
  }
  if (rules.intact('session', 'minDeposit')) {
    const minimum = checkAmount(rules, { path: ['session', 'minDeposit'], decimal: minDeposit })
    if (minimum !== undefined && suggested !== undefined && minimum > suggested) {
      rules.report(
        ['session', 'minDeposit'],
        `must not exceed session.suggestedDeposit (${suggestedDeposit.text}): clients that deposit what is suggested would be refused`,
      )
    }
  }
}

/** The whole answer cannot arrive before its head: a shorter total deadline would never be met. */
function checkUpstreams({ config, intact, report }: Rules): void {
  if (!intact('upstreams')) return
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    if (
      !intact('upstreams', name, 'responseTimeoutMs') ||
      !intact('upstreams', name, 'headersTimeoutMs')
    ) {
      continue
    }
    if (upstream.responseTimeoutMs < upstream.headersTimeoutMs) {
      report(
        ['upstreams', name, 'responseTimeoutMs'],
        `must be at least headersTimeoutMs (${upstream.headersTimeoutMs}): the whole answer cannot arrive before its head`,
      )
    }
  }
}

function checkRoutes(rules: Rules): void {
  const { config, intact, report } = rules
  if (!intact('routes')) return
  const upstreamNames = intact('upstreams') ? Object.keys(config.upstreams) : undefined
  const firstIndex = new Map<string, number>()
  for (const [index, route] of config.routes.entries()) {
    if (!intact('routes', index)) continue
    const at = (field: string): PathSegment[] => ['routes', index, field]
    if (upstreamNames !== undefined && intact(...at('upstream'))) {
      if (!upstreamNames.includes(route.upstream)) {
        const defined = upstreamNames.length > 0 ? upstreamNames.join(', ') : 'none'
        report(
          at('upstream'),
          `"${route.upstream}" is not defined under upstreams (defined: ${defined})`,
        )
      }
    }
    if (intact(...at('path')) && intact('server', 'reservedPrefix')) {
      if (isUnderPrefix(route.path, config.server.reservedPrefix)) {
        report(
          at('path'),
          `must not lie under server.reservedPrefix (${config.server.reservedPrefix})`,
        )
      }
    }
    if (intact(...at('price')) && route.price.kind === 'paid') {
      checkAmount(rules, { path: at('price'), decimal: route.price.decimal })
    }
    if (intact(...at('path')) && intact(...at('upstreamPath')) && route.upstreamPath) {
      const problem = upstreamPathParametersProblem(route.path, route.upstreamPath)
      if (problem !== undefined) report(at('upstreamPath'), problem)
    }
    if (route.metered !== undefined && intact(...at('metered'))) checkMetered(rules, index)
    if (intact(...at('intents')) && route.intents !== undefined) {
      if (intact(...at('price')) && route.price.kind === 'free') {
        report(at('intents'), 'has no effect on a free route (nothing is paid)')
      }
      if (
        intact('tempoCharge') &&
        !config.tempoCharge.enabled &&
        route.intents.includes('charge')
      ) {
        report(at('intents'), 'names charge, which needs tempoCharge.enabled: true')
      }
      if (route.metered !== undefined && route.intents.includes('charge')) {
        report(
          at('intents'),
          'names charge on a metered route: a one-shot payment is for a fixed amount, known before the answer',
        )
      }
    }
    if (intact(...at('price')) && route.shadow === true && route.price.kind === 'free') {
      report(at('shadow'), 'has no effect on a free route (there is nothing to shadow)')
    }
    if (intact(...at('method')) && intact(...at('path'))) {
      const key = `${route.method} ${route.path}`
      const first = firstIndex.get(key)
      if (first === undefined) {
        firstIndex.set(key, index)
      } else {
        report(
          at('path'),
          `repeats routes[${first}] (same method and path); the first match wins, so this route is never used`,
        )
      }
    }
  }
}

/**
 * A metered route: its amounts fit the currency, its `price` (the maximum) is paid, and its
 * `base` lies below that maximum — else every answer would cost the maximum and the metering
 * would mean nothing.
 */
function checkMetered(rules: Rules, index: number): void {
  const { config, intact, report } = rules
  const route = config.routes[index]!
  const metered = route.metered!
  const at = (...field: PathSegment[]): PathSegment[] => ['routes', index, 'metered', ...field]
  const base = checkAmount(rules, { path: at('base'), decimal: metered.base })
  checkAmount(rules, { path: at('perUnit'), decimal: metered.perUnit })
  if (!intact('routes', index, 'price')) return
  if (route.price.kind === 'free') {
    report(
      ['routes', index, 'price'],
      'must be the most one answer costs on a metered route, not free',
    )
    return
  }
  const max = checkAmount(rules, { path: ['routes', index, 'price'], decimal: route.price.decimal })
  if (base !== undefined && max !== undefined && base >= max) {
    report(
      at('base'),
      `must be below the route price (${route.price.decimal.text}), the most one answer costs`,
    )
  }
}

/**
 * An upstream that forwards the client's own `Authorization` cannot also inject one: the injected
 * header would silently replace the client's.
 */
function checkUpstreamAuthorization({ config, intact, report }: Rules): void {
  if (!intact('upstreams')) return
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    if (upstream.clientAuthorization !== 'passthrough') continue
    if (!intact('upstreams', name, 'headers')) continue
    const injected = Object.keys(upstream.headers).find((h) => h.toLowerCase() === 'authorization')
    if (injected !== undefined) {
      report(
        ['upstreams', name, 'headers', injected],
        "would replace the client's own Authorization, which clientAuthorization: passthrough forwards; remove one of them",
      )
    }
  }
}

/**
 * The discovery documents are answered by the gateway itself, before any route: a route at the
 * same path would never be reached for GET, and the gateway's own endpoints keep their prefix.
 */
function checkDiscovery({ config, intact, report }: Rules): void {
  if (!intact('discovery')) return
  const { openapi, llms } = config.discovery
  const served: [field: 'openapi' | 'llms', path: string][] = []
  if (openapi !== false) served.push(['openapi', openapi])
  if (llms !== false) served.push(['llms', llms])
  if (openapi !== false && llms !== false && openapi === llms) {
    report(['discovery', 'llms'], `is also discovery.openapi (${openapi}); give each its own path`)
  }
  for (const [field, path] of served) {
    if (intact('server', 'reservedPrefix') && isUnderPrefix(path, config.server.reservedPrefix)) {
      report(
        ['discovery', field],
        `must not lie under server.reservedPrefix (${config.server.reservedPrefix})`,
      )
    }
  }
  if (!intact('routes')) return
  for (const [index, route] of config.routes.entries()) {
    if (!intact('routes', index, 'path') || !intact('routes', index, 'method')) continue
    if (route.method !== 'GET' && route.method !== 'HEAD' && route.method !== '*') continue
    const shadowed = served.find(([, path]) => path === route.path)
    if (shadowed) {
      report(
        ['routes', index, 'path'],
        `is where discovery.${shadowed[0]} is served, so GET requests never reach this route; move the document (or set discovery.${shadowed[0]}: false)`,
      )
    }
  }
}

/** Why `template` uses what `path` does not match: a parameter it lacks, or the rest (`*`). */
function upstreamPathParametersProblem(path: string, template: string): string | undefined {
  const matched = patternParameters(path)
  const used = patternParameters(template)
  const unknown = used.names.filter((name) => !matched.names.includes(name))
  if (unknown.length > 0) {
    const defined =
      matched.names.length > 0 ? matched.names.map((name) => `:${name}`).join(', ') : 'none'
    return `uses ${unknown.map((name) => `:${name}`).join(', ')}, which the route's path does not match (its parameters: ${defined})`
  }
  if (used.rest && !matched.rest)
    return 'ends in "*", but the route\'s path does not (nothing to carry over)'
  return undefined
}
