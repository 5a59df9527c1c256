/**
 * An agent following Dune's MPP guide asks for `GET /v1/execution/:execution_id/csv`; the
 * example upstream, like Dune's REST API, only knows `/v1/execution/:id/results/csv`. With the
 * profile in config/devnet.yaml the agent is challenged, pays with the real mppx client on the
 * devnet, and the upstream receives the REST path (parameter and query carried over); the access
 * line records the path the agent asked for, without its query.
 */
import { tempo } from 'mppx/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import type { DevnetKey } from '../devnet/devnet.js'
import { startDevnetGateway, type DevnetGateway } from '../support/devnet-gateway.js'
import { memoryLogger } from '../support/gateway.js'

const guideRoute = 'GET /v1/execution/:execution_id/csv'

describe("Dune's guide path", () => {
  let setup: DevnetGateway
  let lines: Record<string, unknown>[]

  beforeAll(async () => {
    const log = memoryLogger()
    lines = log.lines
    setup = await startDevnetGateway({ logger: log.logger })
  })
  afterAll(async () => {
    await setup.stop()
  })

  const accessLines = () => lines.filter((line) => line.msg === 'request')

  it('is challenged, paid by mppx, and served from the REST path upstream', async () => {
    const { devnet, upstream, gateway } = setup
    const id = '01JGUIDEPATH'
    const url = `${gateway.url}/v1/execution/${id}/csv`

    const unpaid = await fetch(`${url}?limit=5`)
    expect(unpaid.status).toBe(402)
    expect(unpaid.headers.get('www-authenticate')).toMatch(/^Payment /)
    await unpaid.arrayBuffer()
    expect(upstream.seen.some((request) => request.url.includes(id))).toBe(false)

    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '1',
    })
    const paid = await session.fetch(`${url}?limit=5`)
    expect(paid.status).toBe(200)
    expect(paid.headers.get('content-type')).toBe('text/csv')
    expect(await paid.text()).toBe('block,value\n1,42\n')
    expect(decodeReceipt(paid.headers.get('payment-receipt')!)).toMatchObject({ spent: '10000' })

    const forwarded = upstream.seen.filter((request) => request.url.includes(id))
    expect(forwarded.map((request) => `${request.method} ${request.url}`)).toEqual([
      `GET /v1/execution/${id}/results/csv?limit=5`,
    ])

    const line = accessLines().find((l) => l.outcome === 'forwarded' && l.route === guideRoute)
    expect(line).toMatchObject({
      method: 'GET',
      path: `/v1/execution/${id}/csv`,
      route: guideRoute,
      price: '10000',
      charged: '10000',
      upstreamStatus: 200,
      status: 200,
    })
    const challenge = accessLines().find((l) => l.outcome === 'challenge' && l.route === guideRoute)
    expect(challenge).toMatchObject({ path: `/v1/execution/${id}/csv`, status: 402 })
    await session.close()
  })

  it('records a bounded path and never the query', async () => {
    const { gateway } = setup
    const long = 'x'.repeat(600)
    const response = await fetch(`${gateway.url}/nowhere/${long}?secret=query-value`)
    expect(response.status).toBe(404)
    await response.arrayBuffer()
    const line = accessLines().find((l) => l.outcome === 'route-not-found')
    expect(line).toBeDefined()
    const path = line!.path as string
    expect(path).toHaveLength(256)
    expect(path.startsWith('/nowhere/xxx')).toBe(true)
    expect(path.endsWith('…')).toBe(true)
    expect(JSON.stringify(accessLines())).not.toContain('query-value')
  })
})
