/**
 * Prometheus metrics of one gateway process, served at `<reservedPrefix>/metrics` in the text
 * exposition format (0.0.4) when `server.metricsToken` is set, to scrapers that present it as a
 * Bearer token: the figures include revenue per route, which is nobody else's business.
 *
 * Counters only, kept in process memory (each instance reports its own; Prometheus sums them):
 *  - `mppgw_requests_total{route, outcome}` — every answered request, with the access line's
 *    outcome (`forwarded`, `challenge`, `management`, `top-up`, `close`, `recovered`,
 *    `recovery-none`, `gateway`, or an error code);
 *  - `mppgw_charged_base_units_total{route}` — value charged, in base units of the currency;
 *  - `mppgw_settlement_transactions_total{kind, result}` — settle and close transactions that
 *    landed (`confirmed`) or reverted (the value they moved is on chain, per channel);
 *  - `mppgw_unresolved_charges_total{outcome}` — answers delivered while their commit's outcome
 *    was unknown, by how the background retry resolved it (gate/unresolved.ts).
 * Labels take few values: routes come from gateway.yaml (`unmatched` otherwise), outcomes from a
 * fixed set. Recording is a map increment; nothing here touches the network.
 */
import { timingSafeEqual } from 'node:crypto'
import type { Context } from 'hono'

export type Metrics = {
  /** One answered request (called with the access line's fields). */
  request(entry: { route?: string; outcome?: string; charged?: string }): void
  /** One settlement transaction's fate. */
  settlement(kind: 'settle' | 'close', result: 'confirmed' | 'reverted'): void
  /** How a charge whose commit outcome was unknown (and whose answer went out) was resolved. */
  unresolvedCharge(outcome: string): void
  /** The exposition text. */
  render(): string
}

type Family = {
  readonly name: string
  readonly help: string
  readonly labels: readonly string[]
  readonly values: Map<string, bigint>
}

export function createMetrics(): Metrics {
  const family = (name: string, help: string, labels: readonly string[]): Family => ({
    name,
    help,
    labels,
    values: new Map(),
  })
  const requests = family('mppgw_requests_total', 'Requests answered, by route and outcome.', [
    'route',
    'outcome',
  ])
  const charged = family(
    'mppgw_charged_base_units_total',
    'Value charged for requests, in base units of the currency, by route.',
    ['route'],
  )
  const transactions = family(
    'mppgw_settlement_transactions_total',
    'Settle and close transactions that landed, by kind and result.',
    ['kind', 'result'],
  )
  const unresolved = family(
    'mppgw_unresolved_charges_total',
    'Answers delivered while their charge was unknown (Redis did not answer the commit), by how the retried commit ended: committed, landed (the first had run), finalized, lapsed (never paid).',
    ['outcome'],
  )
  const families = [requests, charged, transactions, unresolved]

  // Label values joined by a character no label value here contains (routes, codes, kinds).
  const add = (f: Family, labelValues: readonly string[], amount: bigint) => {
    const key = labelValues.join('\n')
    f.values.set(key, (f.values.get(key) ?? 0n) + amount)
  }

  return {
    request(entry) {
      const route = entry.route ?? 'unmatched'
      add(requests, [route, entry.outcome ?? 'unknown'], 1n)
      if (entry.charged !== undefined && entry.charged !== '0')
        add(charged, [route], BigInt(entry.charged))
    },
    settlement(kind, result) {
      add(transactions, [kind, result], 1n)
    },
    unresolvedCharge(outcome) {
      add(unresolved, [outcome], 1n)
    },
    render() {
      const lines: string[] = []
      for (const f of families) {
        lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} counter`)
        for (const [key, value] of f.values) {
          const labelText = key
            .split('\n')
            .map((v, i) => `${f.labels[i]}="${escapeLabel(v)}"`)
            .join(',')
          lines.push(`${f.name}{${labelText}} ${value}`)
        }
      }
      return `${lines.join('\n')}\n`
    },
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
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
