/**
 * The metrics after a scripted run through the whole pipeline in process, on a clock the test
 * moves: exact request counts by route and outcome, exact histogram buckets for request and
 * upstream durations, challenges issued, value charged, in-flight requests, and the unsettled
 * exposure read from the ledger at scrape time.
 */
import { afterEach, describe, expect, it } from 'vitest'
import {
  prices,
  startInProcessGateway,
  type InProcessGateway,
} from '../support/in-process-gateway.js'
import { samples } from '../support/scrape.js'
import { until } from '../support/wait.js'

let gw: InProcessGateway | undefined
afterEach(async () => {
  await gw?.stop()
  gw = undefined
})

describe('metrics after a scripted run', () => {
  it('count every request, bucket every duration, and read the exposure', async () => {
    let clock = Date.now()
    const g = (gw = await startInProcessGateway({ now: () => clock }))
    let sent = 0
    /** Sends one request and waits until its access line is written (the request is done). */
    const send = async (path: string, init: RequestInit & { headers?: Record<string, string> }) => {
      const requestId = `metrics-${++sent}`
      const response = await fetch(`${g.url}${path}`, {
        ...init,
        headers: { ...init.headers, 'x-request-id': requestId },
      })
      await response.arrayBuffer()
      await until(`the access line of ${requestId}`, async () =>
        g.lines.find((line) => line.msg === 'request' && line.requestId === requestId),
      )
      return response.status
    }
    /** Sends a request the upstream holds while the clock moves `ms` forward. */
    const held = async (path: string, ms: number, headers: Record<string, string> = {}) => {
      let release!: () => void
      g.script({ kind: 'held', release: new Promise<void>((resolve) => (release = resolve)) })
      const arrived = g.nextArrival()
      const status = send(path, { headers })
      await arrived
      clock += ms
      release()
      return status
    }

    // A 402, a paid request the upstream takes 300 ms to answer, a paid request the upstream
    // fails at once (released, not charged), a free request taking 2 s, and an unknown path.
    expect(await send('/paid/1', {})).toBe(402)
    const first = await g.credential('/paid/2', prices.paid)
    expect(await held('/paid/2', 300, { authorization: first })).toBe(200)
    const second = await g.credential('/paid/3', 2n * prices.paid)
    g.script({ kind: 'answer', status: 500 })
    expect(await send('/paid/3', { headers: { authorization: second } })).toBe(500)
    expect(await held('/free/1', 2_000)).toBe(200)
    expect(await send('/nowhere', {})).toBe(404)

    const values = samples(await g.metrics.render())
    const paid = 'GET /paid/:id'
    const free = 'GET /free/:id'
    // The 402 above and the two fetched to sign credentials.
    expect(values.get(`mppgw_requests_total{route="${paid}",outcome="challenge"}`)).toBe('3')
    expect(values.get(`mppgw_challenges_issued_total{route="${paid}"}`)).toBe('3')
    expect(values.get(`mppgw_requests_total{route="${paid}",outcome="forwarded"}`)).toBe('2')
    expect(values.get(`mppgw_requests_total{route="${free}",outcome="forwarded"}`)).toBe('1')
    expect(values.get('mppgw_requests_total{route="unmatched",outcome="route-not-found"}')).toBe(
      '1',
    )
    expect(values.get(`mppgw_charged_base_units_total{route="${paid}"}`)).toBe(String(prices.paid))

    const buckets = (family: string, labels: string) =>
      ['0.005', '0.25', '0.5', '1', '2.5', '+Inf'].map((le) =>
        values.get(`${family}_bucket{le="${le}",${labels}}`),
      )
    const requestDuration = 'mppgw_request_duration_seconds'
    const upstreamDuration = 'mppgw_upstream_duration_seconds'
    // Paid and forwarded: one at 0 s (the upstream's 500), one at 0.3 s.
    expect(buckets(requestDuration, `route="${paid}",outcome="forwarded"`)).toEqual([
      '1',
      '1',
      '2',
      '2',
      '2',
      '2',
    ])
    expect(values.get(`${requestDuration}_sum{route="${paid}",outcome="forwarded"}`)).toBe('0.3')
    expect(buckets(requestDuration, `route="${free}",outcome="forwarded"`)).toEqual([
      '0',
      '0',
      '0',
      '0',
      '1',
      '1',
    ])
    expect(buckets(requestDuration, `route="${paid}",outcome="challenge"`)).toEqual([
      '3',
      '3',
      '3',
      '3',
      '3',
      '3',
    ])
    expect(buckets(upstreamDuration, `route="${paid}",status_class="2xx"`)).toEqual([
      '0',
      '0',
      '1',
      '1',
      '1',
      '1',
    ])
    expect(buckets(upstreamDuration, `route="${paid}",status_class="5xx"`)).toEqual([
      '1',
      '1',
      '1',
      '1',
      '1',
      '1',
    ])
    expect(buckets(upstreamDuration, `route="${free}",status_class="2xx"`)).toEqual([
      '0',
      '0',
      '0',
      '0',
      '1',
      '1',
    ])
    // Nothing is in flight once every access line is written.
    expect(values.get('mppgw_requests_in_flight')).toBe('0')
    // One channel, one served request not yet settled.
    expect(values.get('mppgw_unsettled_exposure_base_units')).toBe(String(prices.paid))
    expect(values.get('mppgw_unsettled_channels')).toBe('1')
  })
})
