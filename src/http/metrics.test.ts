import { describe, expect, it } from 'vitest'
import { samples } from '../../test/support/scrape.js'
import { createMetrics, durationBuckets } from './metrics.js'

const route = 'GET /v1/execution/:id/results'

describe('metrics', () => {
  it('counts requests, charged value, challenges, settlement transactions and attempts', async () => {
    const metrics = createMetrics({ processMetrics: false })
    for (const charged of ['10000', '10000', '0', undefined]) {
      metrics.requestStarted()
      metrics.request({
        route,
        outcome: charged === undefined ? 'challenge' : 'forwarded',
        charged,
        durationMs: 3,
      })
    }
    metrics.requestStarted()
    metrics.request({ outcome: 'route-not-found', durationMs: 1 })
    metrics.requestStarted()
    metrics.request({ route: 'GET /a"b\\c', outcome: 'forwarded', charged: '1', durationMs: 1 })
    metrics.challengeIssued(route)
    metrics.settlement('settle', 'confirmed')
    metrics.settlement('settle', 'confirmed')
    metrics.settlement('close', 'reverted')
    metrics.settlementAttempt('confirmed')
    metrics.settlementAttempt('rpc-error')
    metrics.settlementAttempt('timeout')
    metrics.settlementAttempt('timeout')
    metrics.requestStarted()

    const text = await metrics.render()
    const values = samples(text)
    expect(values.get(`mppgw_requests_total{route="${route}",outcome="forwarded"}`)).toBe('3')
    expect(values.get(`mppgw_requests_total{route="${route}",outcome="challenge"}`)).toBe('1')
    expect(values.get('mppgw_requests_total{route="unmatched",outcome="route-not-found"}')).toBe(
      '1',
    )
    expect(values.get(`mppgw_charged_base_units_total{route="${route}"}`)).toBe('20000')
    expect(values.get('mppgw_charged_base_units_total{route="GET /a\\"b\\\\c"}')).toBe('1')
    expect(values.get(`mppgw_challenges_issued_total{route="${route}"}`)).toBe('1')
    expect(
      values.get('mppgw_settlement_transactions_total{kind="settle",result="confirmed"}'),
    ).toBe('2')
    expect(values.get('mppgw_settlement_transactions_total{kind="close",result="reverted"}')).toBe(
      '1',
    )
    expect(values.get('mppgw_settlement_attempts_total{result="confirmed"}')).toBe('1')
    expect(values.get('mppgw_settlement_attempts_total{result="rpc-error"}')).toBe('1')
    expect(values.get('mppgw_settlement_attempts_total{result="timeout"}')).toBe('2')
    // Six requests done, one still in flight.
    expect(values.get('mppgw_requests_in_flight')).toBe('1')
    // No process metrics when turned off, and no exposure without a reader.
    expect(text).not.toContain('process_cpu')
    expect(text).not.toContain('mppgw_unsettled_exposure_base_units ')
    expect(text).toContain('# TYPE mppgw_request_duration_seconds histogram')
  })

  it('puts each duration in its bucket, cumulatively', async () => {
    const metrics = createMetrics({ processMetrics: false })
    // On the bucket bounds (inclusive) and just past them.
    for (const durationMs of [5, 6, 250, 251, 300_000, 300_001]) {
      metrics.requestStarted()
      metrics.request({
        route,
        outcome: 'forwarded',
        durationMs,
        upstreamMs: durationMs,
        upstreamStatus: 502,
      })
    }
    const values = samples(await metrics.render())
    const bucket = (family: string, labels: string, le: string) =>
      values.get(`${family}_bucket{le="${le}",${labels}}`)
    const expected: Record<string, string> = {
      '0.005': '1',
      '0.01': '2',
      '0.25': '3',
      '0.5': '4',
      '300': '5',
      '+Inf': '6',
    }
    for (const [le, count] of Object.entries(expected)) {
      expect(
        bucket('mppgw_request_duration_seconds', `route="${route}",outcome="forwarded"`, le),
      ).toBe(count)
      expect(
        bucket('mppgw_upstream_duration_seconds', `route="${route}",status_class="5xx"`, le),
      ).toBe(count)
    }
    expect(
      values.get(`mppgw_request_duration_seconds_count{route="${route}",outcome="forwarded"}`),
    ).toBe('6')
    expect(durationBuckets.at(-1)).toBe(300)
  })

  it('keeps amounts exact beyond 2^53', async () => {
    const metrics = createMetrics({ processMetrics: false })
    const big = (2n ** 60n).toString()
    metrics.request({ route: 'r', outcome: 'forwarded', charged: big, durationMs: 1 })
    metrics.request({ route: 'r', outcome: 'forwarded', charged: '1', durationMs: 1 })
    metrics.request({ route: 'r', outcome: 'forwarded', shadowCharge: big, durationMs: 1 })
    metrics.request({ route: 'r', outcome: 'forwarded', shadowCharge: '1', durationMs: 1 })
    const values = samples(await metrics.render())
    expect(values.get('mppgw_charged_base_units_total{route="r"}')).toBe(String(2n ** 60n + 1n))
    expect(values.get('mppgw_shadow_charge_base_units_total{route="r"}')).toBe(
      String(2n ** 60n + 1n),
    )
    expect(values.get('mppgw_shadow_requests_total{route="r"}')).toBe('2')
  })

  it('reads the exposure at scrape time, and counts a failed read instead of failing the scrape', async () => {
    let read: () => Promise<{ total: bigint; channels: number }> = async () => ({
      total: 2n ** 60n + 7n,
      channels: 3,
    })
    const metrics = createMetrics({ processMetrics: false, exposure: () => read() })
    let values = samples(await metrics.render())
    expect(values.get('mppgw_unsettled_exposure_base_units')).toBe(String(2n ** 60n + 7n))
    expect(values.get('mppgw_unsettled_channels')).toBe('3')
    expect(values.get('mppgw_exposure_read_errors_total')).toBe('0')

    read = () => Promise.reject(new Error('ledger down'))
    values = samples(await metrics.render())
    expect(values.has('mppgw_unsettled_exposure_base_units')).toBe(false)
    expect(values.get('mppgw_exposure_read_errors_total')).toBe('1')
  })

  it('reports process metrics by default', async () => {
    const values = samples(await createMetrics().render())
    expect(values.has('process_cpu_user_seconds_total')).toBe(true)
    expect(values.has('nodejs_eventloop_lag_seconds')).toBe(true)
  })
})
