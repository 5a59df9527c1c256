import { describe, expect, it } from 'vitest'
import { createMetrics } from './metrics.js'

describe('metrics', () => {
  it('counts requests and charged value per route, and settlement transactions', () => {
    const metrics = createMetrics()
    const route = 'GET /v1/execution/:id/results'
    metrics.request({ route, outcome: 'forwarded', charged: '10000' })
    metrics.request({ route, outcome: 'forwarded', charged: '10000' })
    metrics.request({ route, outcome: 'forwarded', charged: '0' })
    metrics.request({ route, outcome: 'challenge' })
    metrics.request({ outcome: 'route-not-found' })
    metrics.request({ route: 'GET /a"b\\c', outcome: 'forwarded', charged: '1' })
    metrics.settlement('settle', 'confirmed')
    metrics.settlement('settle', 'confirmed')
    metrics.settlement('close', 'reverted')
    expect(metrics.render()).toBe(
      [
        '# HELP mppgw_requests_total Requests answered, by route and outcome.',
        '# TYPE mppgw_requests_total counter',
        'mppgw_requests_total{route="GET /v1/execution/:id/results",outcome="forwarded"} 3',
        'mppgw_requests_total{route="GET /v1/execution/:id/results",outcome="challenge"} 1',
        'mppgw_requests_total{route="unmatched",outcome="route-not-found"} 1',
        'mppgw_requests_total{route="GET /a\\"b\\\\c",outcome="forwarded"} 1',
        '# HELP mppgw_charged_base_units_total Value charged for requests, in base units of the currency, by route.',
        '# TYPE mppgw_charged_base_units_total counter',
        'mppgw_charged_base_units_total{route="GET /v1/execution/:id/results"} 20000',
        'mppgw_charged_base_units_total{route="GET /a\\"b\\\\c"} 1',
        '# HELP mppgw_settlement_transactions_total Settle and close transactions that landed, by kind and result.',
        '# TYPE mppgw_settlement_transactions_total counter',
        'mppgw_settlement_transactions_total{kind="settle",result="confirmed"} 2',
        'mppgw_settlement_transactions_total{kind="close",result="reverted"} 1',
        '# HELP mppgw_unresolved_charges_total Answers delivered while their charge was unknown (Redis did not answer the commit), by how the retried commit ended: committed, landed (the first had run), finalized, lapsed (never paid).',
        '# TYPE mppgw_unresolved_charges_total counter',
        '',
      ].join('\n'),
    )
  })

  it('keeps amounts exact beyond 2^53', () => {
    const metrics = createMetrics()
    const big = (2n ** 60n).toString()
    metrics.request({ route: 'r', outcome: 'forwarded', charged: big })
    metrics.request({ route: 'r', outcome: 'forwarded', charged: '1' })
    expect(metrics.render()).toContain(
      `mppgw_charged_base_units_total{route="r"} ${2n ** 60n + 1n}`,
    )
  })
})
