/**
 * Shadow mode as an operator switches it on in gateway.yaml: `server.shadow: true` puts every
 * priced route in shadow mode, a route's own `shadow: false` keeps enforcing, free routes stay
 * free — on the devnet profile, with the real gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDevnetGateway, type DevnetGateway } from '../support/devnet-gateway.js'

describe('shadow mode from gateway.yaml', () => {
  let setup: DevnetGateway

  beforeAll(async () => {
    setup = await startDevnetGateway({
      edit: (doc) => {
        doc.setIn(['server', 'shadow'], true)
        doc.setIn(['routes', 0, 'shadow'], false)
      },
    })
  })
  afterAll(async () => {
    await setup.stop()
  })

  it('forwards priced routes unpaid with their price, except where a route enforces', async () => {
    const { gateway, upstream } = setup
    const results = await fetch(`${gateway.url}/v1/execution/s1/results`)
    expect(results.status).toBe(200)
    expect(results.headers.get('payment-shadow-price')).toBe(
      'amount="10000", currency="0x20C0000000000000000000000000000000000000", unitType="request"',
    )
    await results.arrayBuffer()

    const guide = await fetch(`${gateway.url}/v1/execution/s1/csv`)
    expect(guide.status).toBe(200)
    expect(await guide.text()).toBe('block,value\n1,42\n')

    const execute = await fetch(`${gateway.url}/v1/sql/execute`, { method: 'POST', body: '{}' })
    expect(execute.status).toBe(402)
    expect(execute.headers.get('payment-shadow-price')).toBeNull()
    await execute.arrayBuffer()

    const status = await fetch(`${gateway.url}/v1/execution/s1/status`)
    expect(status.status).toBe(200)
    expect(status.headers.get('payment-shadow-price')).toBeNull()
    await status.arrayBuffer()

    expect(upstream.seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /v1/execution/s1/results',
      'GET /v1/execution/s1/results/csv',
      'GET /v1/execution/s1/status',
    ])
  })
})
