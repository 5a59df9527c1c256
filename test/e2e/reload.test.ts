/**
 * Reloading the configuration of a running gateway process with SIGHUP: a new price shows in the
 * next 402 and in the discovery documents while a paid request already at the upstream finishes
 * at the old price; a broken file leaves the running configuration serving and the process
 * alive; restart-only settings are reported and not applied; reloads are counted in metrics.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { tempo } from 'mppx/client'
import { parseDocument } from 'yaml'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { parsePaymentChallenges } from '../../src/protocol/auth-params.js'
import { decodeBase64urlJson } from '../../src/protocol/base64url.js'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import { connectDevnet, type DevnetClient, type DevnetKey } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js'
import { until } from '../support/wait.js'

const metricsToken = 'reload-test-metrics-token-of-32-bytes-at-least'
/** routes[2] of config/devnet.yaml: GET /v1/execution/:id/results at 0.01. */
const route = 2
const paidPath = (id: string) => `/v1/execution/${id}/results`

/** The price a fresh 402 states: the problem's details and the challenge's request. */
async function challengedPrice(url: string): Promise<{ details: string; challenge: string }> {
  const response = await fetch(url)
  expect(response.status).toBe(402)
  const body = (await response.json()) as { details: { price: string } }
  const [challenge] = parsePaymentChallenges(response.headers.get('www-authenticate')!)
  const request = decodeBase64urlJson(challenge!.request!) as { amount: string }
  return { details: body.details.price, challenge: request.amount }
}

/** The amount `/openapi.json` lists for the results route. */
async function listedPrice(gateway: GatewayProcess): Promise<string> {
  const doc = (await (await fetch(`${gateway.url}/openapi.json`)).json()) as {
    paths: Record<string, { get?: { 'x-payment-info'?: { offers: { amount: string }[] } } }>
  }
  return doc.paths['/v1/execution/{id}/results']!.get!['x-payment-info']!.offers[0]!.amount
}

async function metric(gateway: GatewayProcess, line: string): Promise<string | undefined> {
  const text = await (
    await fetch(`${gateway.url}/__gateway/metrics`, {
      headers: { authorization: `Bearer ${metricsToken}` },
    })
  ).text()
  return text.split('\n').find((l) => l.startsWith(line))
}

describe('reload on SIGHUP', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let gateway: GatewayProcess

  /** Rewrites the running process's configuration file and sends SIGHUP; resolves on its log line. */
  async function reload(edit: (doc: ReturnType<typeof parseDocument>) => void, text?: string) {
    const doc = parseDocument(readFileSync(gateway.configFile, 'utf8'))
    edit(doc)
    writeFileSync(gateway.configFile, text ?? doc.toString())
    const seen = gateway.lines.length
    process.kill(gateway.pid, 'SIGHUP')
    return until('the reload to be logged', async () =>
      gateway.lines
        .slice(seen)
        .find(
          (l) =>
            l.msg === 'configuration reloaded' ||
            l.msg === 'configuration not reloaded; the running configuration keeps serving',
        ),
    )
  }

  beforeAll(async () => {
    devnet = connectDevnet(inject('devnet'))
    upstream = await startExampleUpstream()
    gateway = await startGatewayProcess({
      devnet,
      upstreamUrl: upstream.url,
      edit: (doc) => doc.setIn(['server', 'metricsToken'], metricsToken),
    })
  })
  afterAll(async () => {
    await gateway.stop()
    await upstream.close()
  })

  it('a new price shows in the next 402 and the discovery documents; a paid request in flight finishes at the old price', async () => {
    const [key] = (await devnet.newPayers(1)) as [DevnetKey]
    const session = tempo.session.manager({
      client: devnet.clientFor(key.privateKey),
      maxDeposit: '1',
    })
    expect(await challengedPrice(`${gateway.url}${paidPath('a')}`)).toEqual({
      details: '10000',
      challenge: '10000',
    })
    let release = () => {}
    const released = new Promise<void>((resolve) => (release = resolve))
    upstream.script((request) =>
      request.url === paidPath('slow') ? { kind: 'wait', until: released } : undefined,
    )
    try {
      const inFlight = session.fetch(`${gateway.url}${paidPath('slow')}`)
      await until('the paid request to reach the upstream', async () =>
        upstream.seen.find((r) => r.url === paidPath('slow')),
      )

      const line = await reload((doc) => doc.setIn(['routes', route, 'price'], '0.025'))
      expect(line).toMatchObject({
        msg: 'configuration reloaded',
        generation: 2,
        trigger: 'SIGHUP',
      })
      expect(await challengedPrice(`${gateway.url}${paidPath('b')}`)).toEqual({
        details: '25000',
        challenge: '25000',
      })
      expect(await listedPrice(gateway)).toBe('25000')
      expect(await (await fetch(`${gateway.url}/llms.txt`)).text()).toContain('0.025')

      release()
      const paid = await inFlight
      expect(paid.status).toBe(200)
      expect(decodeReceipt(paid.headers.get('payment-receipt')!)).toMatchObject({
        spent: '10000',
        units: 1,
      })
    } finally {
      release()
      upstream.script(undefined)
    }
    // The next paid request is charged the new price on the same channel.
    const next = await session.fetch(`${gateway.url}${paidPath('c')}`)
    expect(next.status).toBe(200)
    expect(decodeReceipt(next.headers.get('payment-receipt')!)).toMatchObject({
      spent: '35000',
      units: 2,
    })
    expect(await metric(gateway, 'mppgw_config_reloads_total{result="applied"}')).toBe(
      'mppgw_config_reloads_total{result="applied"} 1',
    )
    expect(await metric(gateway, 'mppgw_config_generation')).toBe('mppgw_config_generation 2')
  })

  it('a broken file keeps the running configuration serving, names every problem, and the process lives', async () => {
    const good = readFileSync(gateway.configFile, 'utf8')
    const seen = gateway.lines.length
    const line = await reload((doc) => {
      doc.setIn(['routes', 0, 'upstream'], 'nowhere')
      doc.setIn(['routes', route, 'price'], 0.05)
    }).finally(() => writeFileSync(gateway.configFile, good))
    expect(line).toMatchObject({ problems: 2, trigger: 'SIGHUP' })
    const problems = gateway.lines
      .slice(seen)
      .filter((l) => typeof l.msg === 'string' && l.msg.startsWith('configuration not reloaded:'))
    expect(problems.map((l) => l.path)).toEqual(['routes[0].upstream', `routes[${route}].price`])
    for (const p of problems) expect(p.line).toEqual(expect.any(Number))
    expect(await challengedPrice(`${gateway.url}${paidPath('d')}`)).toEqual({
      details: '25000',
      challenge: '25000',
    })
    expect((await fetch(`${gateway.url}/__gateway/healthz`)).status).toBe(200)
    expect(await metric(gateway, 'mppgw_config_reloads_total{result="invalid"}')).toBe(
      'mppgw_config_reloads_total{result="invalid"} 1',
    )
    expect(await metric(gateway, 'mppgw_config_generation')).toBe('mppgw_config_generation 2')
  })

  it('restart-only settings are reported, not applied, while the live ones are', async () => {
    const seen = gateway.lines.length
    const line = await reload((doc) => {
      doc.setIn(['routes', route, 'price'], '0.03')
      doc.setIn(['server', 'port'], 1)
      doc.setIn(['ledger', 'type'], 'redis')
      doc.setIn(['ledger', 'redis'], { url: 'redis://127.0.0.1:1' })
    })
    expect(line).toMatchObject({ msg: 'configuration reloaded', generation: 3 })
    const warning = await until('the restart-only warning', async () =>
      gateway.lines.slice(seen).find((l) => Array.isArray(l.settings)),
    )
    expect(warning.settings).toEqual(['server.port', 'ledger.type', 'ledger.redis'])
    expect(await challengedPrice(`${gateway.url}${paidPath('e')}`)).toEqual({
      details: '30000',
      challenge: '30000',
    })
    // Still the memory ledger on the same port: a paid request works as before.
    const [key] = (await devnet.newPayers(1)) as [DevnetKey]
    const session = tempo.session.manager({
      client: devnet.clientFor(key.privateKey),
      maxDeposit: '1',
    })
    expect((await session.fetch(`${gateway.url}${paidPath('f')}`)).status).toBe(200)
    expect(gateway.lines.filter((l) => (l.level as number) >= 60)).toEqual([])
  })
})
