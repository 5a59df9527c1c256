/**
 * Shadow mode, in process: a request without a credential on a shadow route is forwarded unpaid,
 * answered with the price it would have paid, logged and counted with what it would have been
 * charged under the route's charge policy — and the ledger never moves. A client that pays
 * anyway is charged as usual.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import {
  prices,
  startInProcessGateway,
  type InProcessGateway,
} from '../support/in-process-gateway.js'
import { samples } from '../support/scrape.js'
import { until } from '../support/wait.js'

const currency = '0x20c0000000000000000000000000000000000000'

let gw: InProcessGateway | undefined
afterEach(async () => {
  await gw?.stop()
  gw = undefined
})

async function send(g: InProcessGateway, path: string, headers: Record<string, string> = {}) {
  const requestId = `shadow-${path}-${Object.keys(headers).length}`
  const response = await fetch(`${g.url}${path}`, {
    headers: { ...headers, 'x-request-id': requestId },
  })
  const body = await response.text()
  const line = await until(`the access line of ${path}`, async () =>
    g.lines.find((l) => l.msg === 'request' && l.requestId === requestId),
  )
  return { response, body, line }
}

describe('shadow mode', () => {
  it('forwards without payment, tells the price, and counts what it would have charged', async () => {
    const g = (gw = await startInProcessGateway())
    const before = await g.ledger.get(g.channelId)

    const served = await send(g, '/shadow/1')
    expect(served.response.status).toBe(200)
    expect(served.response.headers.get('payment-shadow-price')).toBe(
      `amount="${prices.paid}", currency="${currency}", unitType="request"`,
    )
    expect(served.response.headers.get('www-authenticate')).toBeNull()
    expect(served.response.headers.get('payment-receipt')).toBeNull()
    expect(served.line).toMatchObject({
      route: 'GET /shadow/:id',
      outcome: 'forwarded',
      charge: 'shadow',
      shadowCharge: String(prices.paid),
      upstreamStatus: 200,
    })
    expect(served.line.charged).toBeUndefined()

    // on-success: an upstream failure would not have been charged.
    g.script({ kind: 'answer', status: 500 })
    const failed = await send(g, '/shadow/2')
    expect(failed.response.status).toBe(500)
    expect(failed.response.headers.get('payment-shadow-price')).not.toBeNull()
    expect(failed.line).toMatchObject({ charge: 'shadow', shadowCharge: '0' })

    // always: even an exchange without an upstream head would have been charged.
    g.script({ kind: 'reset' })
    const reset = await send(g, '/shadow-always/3')
    expect(reset.response.status).toBe(502)
    expect(reset.response.headers.get('payment-shadow-price')).toBe(
      `amount="${prices.always}", currency="${currency}", unitType="request"`,
    )
    expect(reset.line).toMatchObject({
      outcome: 'upstream-unavailable',
      charge: 'shadow',
      shadowCharge: String(prices.always),
    })
    // What the socket said, for the operator: a reset before any head.
    expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(reset.line.upstreamError)

    expect(g.seen).toEqual(['/shadow/1', '/shadow/2', '/shadow-always/3'])
    expect(await g.ledger.get(g.channelId)).toEqual(before)
    const values = samples(await g.metrics.render())
    expect(values.get('mppgw_shadow_requests_total{route="GET /shadow/:id"}')).toBe('2')
    expect(values.get('mppgw_shadow_requests_total{route="GET /shadow-always/:id"}')).toBe('1')
    expect(values.get('mppgw_shadow_charge_base_units_total{route="GET /shadow/:id"}')).toBe(
      String(prices.paid),
    )
    expect(values.get('mppgw_shadow_charge_base_units_total{route="GET /shadow-always/:id"}')).toBe(
      String(prices.always),
    )
    expect([...values.keys()].some((k) => k.startsWith('mppgw_charged_base_units_total{'))).toBe(
      false,
    )
    expect([...values.keys()].some((k) => k.startsWith('mppgw_challenges_issued_total{'))).toBe(
      false,
    )
  })

  it('charges a client that pays anyway, as in enforce mode', async () => {
    const g = (gw = await startInProcessGateway())
    // The shadow route states the same terms as /paid, so a challenge of either pays for both.
    const authorization = await g.credential('/paid/1', prices.paid)
    const paid = await send(g, '/shadow/4', { authorization })
    expect(paid.response.status).toBe(200)
    expect(paid.response.headers.get('payment-shadow-price')).toBeNull()
    expect(decodeReceipt(paid.response.headers.get('payment-receipt')!)).toMatchObject({
      spent: String(prices.paid),
    })
    expect(paid.line).toMatchObject({ charge: 'committed', charged: String(prices.paid) })
    expect((await g.ledger.get(g.channelId))!.spent).toBe(prices.paid)
  })
})
