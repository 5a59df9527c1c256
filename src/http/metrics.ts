/**
 * Prometheus metrics of one gateway process, served at `<reservedPrefix>/metrics` in the text
 * exposition format (0.0.4) when `server.metricsToken` is set, to scrapers that present it as a
 * Bearer token: the figures include revenue per route, which is nobody else's business.
 *
 * Kept in process memory with prom-client (each instance reports its own; Prometheus sums them):
 *  - `mppgw_requests_total{route, outcome}` — every answered request, with the access line's
 *    outcome (`forwarded`, `replayed`, `challenge`, `management`, `top-up`, `close`, `preflight`, `recovered`,
 *    `recovery-none`, `gateway`,
 *    `client-aborted`, or an error code);
 *  - `mppgw_request_duration_seconds{route, outcome}` — histogram, from the first byte in to the
 *    answer gone and the charge decided;
 *  - `mppgw_upstream_duration_seconds{route, status_class}` — histogram, from forwarding to the
 *    upstream's response head (`status_class` 2xx … 5xx); failures without a head are counted by
 *    `mppgw_requests_total` under their error code;
 *  - `mppgw_requests_in_flight` — requests received and not yet done;
 *  - `mppgw_challenges_issued_total{route}` — every `WWW-Authenticate: Payment` challenge issued
 *    (402s and the fresh challenge on other priced 4xx answers);
 *  - `mppgw_charged_base_units_total{route}` — value charged, in base units of the currency;
 *  - `mppgw_metered_units_total{route}` and `mppgw_metered_answers_total{route, basis}` — on
 *    routes priced from the answer, the units charged, and the answers by how their price was
 *    found (`units`, `capped`, `unreadable`, `over-buffer`: the last two charged the maximum);
 *  - `mppgw_shadow_requests_total{route}` and `mppgw_shadow_charge_base_units_total{route}` —
 *    requests forwarded unpaid in shadow mode, and what they would have been charged;
 *  - `mppgw_unsettled_exposure_base_units` and `mppgw_unsettled_channels` — gauges read from the
 *    ledger's channel index at scrape time: spent value not yet settled on chain (the total of
 *    `mpp-gateway channels`) and the channels holding it; a failed read is counted in
 *    `mppgw_exposure_read_errors_total` and leaves the gauges out of that scrape;
 *  - `mppgw_settlement_transactions_total{kind, result}` — settle and close transactions that
 *    landed (`confirmed`) or reverted;
 *  - `mppgw_settlement_attempts_total{result}` — every settlement attempt by how it ended,
 *    including RPC errors and receipt time-outs (settlement/attempts.ts);
 *  - `mppgw_unresolved_charges_total{outcome}` — answers delivered while their commit's (or a
 *    hold's refund's) outcome was unknown, by how the background retry resolved it
 *    (gate/unresolved.ts);
 *  - `mppgw_config_reloads_total{result}` — configuration reloads (SIGHUP or a file change):
 *    `applied`, or `invalid` when the file was refused and the running configuration kept;
 *    `mppgw_config_generation` — the number of the configuration serving (1 at start);
 *  - `mppgw_rate_limited_total{limit}` — requests answered 429, by the limit they met
 *    (`challengesPerClient`, `perPayer`, `perChannel`);
 *  - prom-client's default process metrics (CPU, memory, event-loop lag, GC, handles).
 *
 * Why amounts are not prom-client counters: those hold a float64, exact only up to 2^53 base
 * units (9 × 10^9 of a 6-decimal token); revenue must add up to the unit. The money families are
 * kept as `bigint` and rendered here in the same format. Labels take few values: routes come from
 * gateway.yaml (`unmatched` otherwise), outcomes and results from fixed sets. Recording is a map
 * update; only the exposure gauges read the ledger, and only when scraped.
 */
import { timingSafeEqual } from 'node:crypto'
import type { Context } from 'hono'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { ChallengeIssuer } from '../pricing/challenges.js'
import type { AttemptResult } from '../settlement/attempts.js'
import { routeLabel } from './access-log.js'

/** What one answered request contributes (the access line's fields and its timings). */
export type RequestRecord = {
  readonly route?: string | undefined
  readonly outcome?: string | undefined
  /** Value charged, base units. */
  readonly charged?: string | undefined
  /** Units a metered answer was charged for, and how its price was found. */
  readonly units?: string | undefined
  readonly priceBasis?: string | undefined
  /** What a shadow-mode request would have been charged, base units. */
  readonly shadowCharge?: string | undefined
  readonly durationMs: number
  readonly upstreamMs?: number | undefined
  readonly upstreamStatus?: number | undefined
}

export type Metrics = {
  /** A request arrived (the in-flight gauge); `request` is called once it is done. */
  requestStarted(): void
  /** One answered request. */
  request(record: RequestRecord): void
  /** A payment challenge issued for `route`. */
  challengeIssued(route: string): void
  /** One settlement transaction's fate. */
  settlement(kind: 'settle' | 'close', result: 'confirmed' | 'reverted'): void
  /** How one settlement attempt ended. */
  settlementAttempt(result: AttemptResult): void
  /** How a charge whose commit outcome was unknown (and whose answer went out) was resolved. */
  unresolvedCharge(outcome: string): void
  /** A configuration reload: applied (now serving `generation`) or refused as invalid. */
  reload(result: 'applied' | 'invalid', generation?: number): void
  /** A request answered 429 by `limit`. */
  rateLimited(limit: string): void
  /** The exposition text. */
  render(): Promise<string>
  /** The exposition's content type. */
  readonly contentType: string
}

export type MetricsOptions = {
  /** Spent value not yet settled on chain, read at scrape time. */
  readonly exposure?: () => Promise<{ readonly total: bigint; readonly channels: number }>
  /** prom-client's process metrics (default on; tests starting many gateways turn them off). */
  readonly processMetrics?: boolean
}

/** Seconds: fast gateway answers up to Dune-sized queries and streamed results. */
export const durationBuckets = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
] as const

/** A counter family of exact `bigint` values, rendered by hand (see the module header). */
type ExactFamily = {
  readonly name: string
  readonly help: string
  readonly type: 'counter' | 'gauge'
  readonly label: string | undefined
  readonly values: Map<string, bigint>
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry()
  const registers = [registry]
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry })

  const requests = new Counter({
    name: 'mppgw_requests_total',
    help: 'Requests answered, by route and outcome.',
    labelNames: ['route', 'outcome'] as const,
    registers,
  })
  const duration = new Histogram({
    name: 'mppgw_request_duration_seconds',
    help: 'Time from a request arriving to its answer gone and its charge decided, by route and outcome.',
    labelNames: ['route', 'outcome'] as const,
    buckets: [...durationBuckets],
    registers,
  })
  const upstream = new Histogram({
    name: 'mppgw_upstream_duration_seconds',
    help: "Time from forwarding a request to the upstream's response head, by route and status class.",
    labelNames: ['route', 'status_class'] as const,
    buckets: [...durationBuckets],
    registers,
  })
  const inFlight = new Gauge({
    name: 'mppgw_requests_in_flight',
    help: 'Requests received and not yet done.',
    registers,
  })
  const challenges = new Counter({
    name: 'mppgw_challenges_issued_total',
    help: 'Payment challenges issued, by route.',
    labelNames: ['route'] as const,
    registers,
  })
  const transactions = new Counter({
    name: 'mppgw_settlement_transactions_total',
    help: 'Settle and close transactions that landed, by kind and result.',
    labelNames: ['kind', 'result'] as const,
    registers,
  })
  const attempts = new Counter({
    name: 'mppgw_settlement_attempts_total',
    help: 'Settlement attempts by how they ended: confirmed, reverted, expired, timeout, rpc-error, lost-lease, error.',
    labelNames: ['result'] as const,
    registers,
  })
  const unresolved = new Counter({
    name: 'mppgw_unresolved_charges_total',
    help: 'Answers delivered while their charge was unknown (Redis did not answer the commit, or the refund of a hold), by how the retry ended: committed, landed (the first had run), finalized, lapsed (never paid); refunded, refund-landed, refund-lapsed (the payer stayed charged).',
    labelNames: ['outcome'] as const,
    registers,
  })
  const shadowRequests = new Counter({
    name: 'mppgw_shadow_requests_total',
    help: 'Requests forwarded without payment in shadow mode, by route.',
    labelNames: ['route'] as const,
    registers,
  })
  const reloads = new Counter({
    name: 'mppgw_config_reloads_total',
    help: 'Configuration reloads, by result: applied, or invalid (the running configuration kept).',
    labelNames: ['result'] as const,
    registers,
  })
  const generation = new Gauge({
    name: 'mppgw_config_generation',
    help: 'Number of the configuration serving requests: 1 at start, one more per applied reload.',
    registers,
  })
  generation.set(1)
  const rateLimited = new Counter({
    name: 'mppgw_rate_limited_total',
    help: 'Requests answered 429 rate-limited, by limit: challengesPerClient, perPayer, perChannel.',
    labelNames: ['limit'] as const,
    registers,
  })
  const exposureErrors = new Counter({
    name: 'mppgw_exposure_read_errors_total',
    help: 'Scrapes whose read of the unsettled exposure from the ledger failed.',
    registers,
  })

  const exact = (
    name: string,
    help: string,
    type: ExactFamily['type'],
    label?: string,
  ): ExactFamily => ({ name, help, type, label, values: new Map() })
  const charged = exact(
    'mppgw_charged_base_units_total',
    'Value charged for requests, in base units of the currency, by route.',
    'counter',
    'route',
  )
  const meteredUnits = exact(
    'mppgw_metered_units_total',
    'Units charged on routes priced from the answer, by route.',
    'counter',
    'route',
  )
  const meteredAnswers = new Counter({
    name: 'mppgw_metered_answers_total',
    help: 'Answers on routes priced from the answer, by how the price was found.',
    labelNames: ['route', 'basis'],
    registers,
  })
  const shadowCharged = exact(
    'mppgw_shadow_charge_base_units_total',
    'Value shadow-mode requests would have been charged, in base units of the currency, by route.',
    'counter',
    'route',
  )
  const exposure = exact(
    'mppgw_unsettled_exposure_base_units',
    'Spent value not yet settled on chain, in base units of the currency (read from the ledger at scrape time).',
    'gauge',
  )
  const exposedChannels = exact(
    'mppgw_unsettled_channels',
    'Channels holding spent value not yet settled on chain (read from the ledger at scrape time).',
    'gauge',
  )
  const add = (family: ExactFamily, labelValue: string, amount: string | undefined) => {
    if (amount === undefined || amount === '0') return
    family.values.set(labelValue, (family.values.get(labelValue) ?? 0n) + BigInt(amount))
  }

  const readExposure = async (): Promise<ExactFamily[]> => {
    if (!options.exposure) return []
    exposure.values.clear()
    exposedChannels.values.clear()
    try {
      const { total, channels } = await options.exposure()
      exposure.values.set('', total)
      exposedChannels.values.set('', BigInt(channels))
    } catch {
      exposureErrors.inc()
    }
    return [exposure, exposedChannels]
  }

  return {
    contentType: registry.contentType,
    requestStarted() {
      inFlight.inc()
    },
    request(record) {
      inFlight.dec()
      const route = record.route ?? 'unmatched'
      const outcome = record.outcome ?? 'unknown'
      requests.inc({ route, outcome })
      duration.observe({ route, outcome }, record.durationMs / 1000)
      if (record.upstreamMs !== undefined && record.upstreamStatus !== undefined) {
        const statusClass = `${Math.floor(record.upstreamStatus / 100)}xx`
        upstream.observe({ route, status_class: statusClass }, record.upstreamMs / 1000)
      }
      add(charged, route, record.charged)
      if (record.priceBasis !== undefined) {
        meteredAnswers.inc({ route, basis: record.priceBasis })
        add(meteredUnits, route, record.units)
      }
      if (record.shadowCharge !== undefined) {
        shadowRequests.inc({ route })
        add(shadowCharged, route, record.shadowCharge)
      }
    },
    challengeIssued(route) {
      challenges.inc({ route })
    },
    settlement(kind, result) {
      transactions.inc({ kind, result })
    },
    settlementAttempt(result) {
      attempts.inc({ result })
    },
    unresolvedCharge(outcome) {
      unresolved.inc({ outcome })
    },
    reload(result, number) {
      reloads.inc({ result })
      if (number !== undefined) generation.set(number)
    },
    rateLimited(limit) {
      rateLimited.inc({ limit })
    },
    async render() {
      // The exposure first: its read may count an error, which this scrape should already show.
      const gauges = await readExposure()
      const text = await registry.metrics()
      return [text, ...[charged, meteredUnits, shadowCharged, ...gauges].map(renderExact)].join(
        '\n',
      )
    },
  }
}

function renderExact(family: ExactFamily): string {
  const lines = [`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`]
  for (const [labelValue, value] of family.values) {
    const labels =
      family.label === undefined ? '' : `{${family.label}="${escapeLabel(labelValue)}"}`
    lines.push(`${family.name}${labels} ${value}`)
  }
  return `${lines.join('\n')}\n`
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/** `issuer`, counting every challenge it issues in `metrics`. */
export function countChallenges(
  issuer: ChallengeIssuer,
  metrics: Pick<Metrics, 'challengeIssued'>,
): ChallengeIssuer {
  return {
    ...issuer,
    issue(route, now, options) {
      metrics.challengeIssued(routeLabel(route))
      return issuer.issue(route, now, options)
    },
  }
}

/** Whether a request presents `token` as its Bearer credential (compared in constant time). */
export function presentsToken(c: Context, token: string): boolean {
  const header = c.req.header('authorization') ?? ''
  const match = /^Bearer\s+(.+)$/i.exec(header)
  if (!match) return false
  const given = Buffer.from(match[1]!.trim())
  const expected = Buffer.from(token)
  return given.length === expected.length && timingSafeEqual(given, expected)
}
