/**
 * The metrics endpoint as Prometheus scrapes it: only with the configured Bearer token, counting
 * exactly what the access log and the chain saw — paid requests and their value per route,
 * challenges, the close and its transaction.
 */
import { tempo } from 'mppx/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import type { DevnetClient, DevnetKey } from '../devnet/devnet.js'
import type { ExampleUpstream } from '../support/example-upstream.js'
import { startDevnetGateway, type DevnetGateway } from '../support/devnet-gateway.js'
import { devnetConfig, memoryLogger, startTestGateway } from '../support/gateway.js'
import { samples, scrape } from '../support/scrape.js'
import { until } from '../support/wait.js'

const token = 'metrics-token-for-tests-at-least-32-bytes'
const route = 'GET /v1/execution/:id/results'

describe('metrics endpoint', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let gateway: Gateway
  let plain: Gateway
  let lines: Record<string, unknown>[]
  let setup: DevnetGateway

  beforeAll(async () => {
    const log = memoryLogger()
    lines = log.lines
    setup = await startDevnetGateway({
      logger: log.logger,
      edit: (doc) => doc.setIn(['server', 'metricsToken'], '${METRICS_TOKEN}'),
      extraEnv: { METRICS_TOKEN: token },
    })
    ;({ devnet, upstream, gateway } = setup)
    plain = await startTestGateway({ config: devnetConfig({ devnet, upstreamUrl: upstream.url }) })
  })
  afterAll(async () => {
    await plain.stop()
    await setup.stop()
  })

  it('answers only the configured Bearer token, and does not exist without one', async () => {
    expect((await scrape(gateway.url)).status).toBe(401)
    const wrong = await scrape(gateway.url, `${token.slice(0, -1)}x`)
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="metrics"')
    const basic = await fetch(`${gateway.url}/__gateway/metrics`, {
      headers: { authorization: `Basic ${token}` },
    })
    expect(basic.status).toBe(401)
    expect((await scrape(plain.url, token)).status).toBe(404)
  })

  it('counts paid requests, their value, challenges and the close transaction exactly', async () => {
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '1',
    })
    for (let i = 0; i < 3; i++)
      expect((await session.fetch(`${gateway.url}/v1/execution/${i}/results`)).status).toBe(200)
    expect((await fetch(`${gateway.url}/v1/execution/1/status`)).status).toBe(200)
    await session.close()
    // The close's answer can reach the client a moment before its access line is written.
    await until('the access line of the close', async () =>
      lines.find((l) => l.msg === 'request' && l.outcome === 'close'),
    )

    const metricsLines = () =>
      lines.filter((l) => l.msg === 'request' && l.route === 'GET /__gateway/metrics').length
    const scrapedBefore = metricsLines()
    const response = await scrape(gateway.url, token)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    const values = samples(await response.text())
    expect(values.get(`mppgw_requests_total{route="${route}",outcome="forwarded"}`)).toBe('3')
    expect(values.get(`mppgw_charged_base_units_total{route="${route}"}`)).toBe('30000')
    expect(
      values.get('mppgw_requests_total{route="GET /v1/execution/:id/status",outcome="forwarded"}'),
    ).toBe('1')
    const challenges = lines.filter((l) => l.msg === 'request' && l.outcome === 'challenge')
    expect(challenges.length).toBeGreaterThan(0)
    expect(values.get(`mppgw_requests_total{route="${route}",outcome="challenge"}`)).toBe(
      String(challenges.length),
    )
    expect(values.get(`mppgw_challenges_issued_total{route="${route}"}`)).toBe(
      String(challenges.length),
    )
    // mppx posts its close to the URL it last paid; the gateway counts it under the first route
    // with the terms of the close's challenge (several routes here share them).
    const closes = [...values].filter(
      ([name]) => name.startsWith('mppgw_requests_total{') && name.endsWith(',outcome="close"}'),
    )
    expect(closes.map(([, value]) => value)).toEqual(['1'])
    expect(values.get('mppgw_settlement_transactions_total{kind="close",result="confirmed"}')).toBe(
      '1',
    )
    // The close settled everything: nothing is exposed any more.
    expect(values.get('mppgw_unsettled_exposure_base_units')).toBe('0')
    expect(
      values.get(`mppgw_request_duration_seconds_count{route="${route}",outcome="forwarded"}`),
    ).toBe('3')
    // The scrape itself is the one request in flight.
    expect(values.get('mppgw_requests_in_flight')).toBe('1')
    expect(values.has('process_resident_memory_bytes')).toBe(true)
    // Scrapes are requests too (this one counts once it is done).
    expect(
      values.get('mppgw_requests_total{route="GET /__gateway/metrics",outcome="gateway"}') ?? '0',
    ).toBe(String(scrapedBefore))
  })
})
