/**
 * Routes priced from the answer, in process (memory ledger, scripted loopback upstream): the
 * maximum is reserved, the answer's price (base + perUnit × units, at most the maximum) is
 * committed and the rest released, the receipt states the exact amount, and a body cut short
 * is charged as docs/DESIGN.md ("Prices from the answer") says.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import {
  metering,
  prices,
  startInProcessGateway,
  type InProcessGateway,
} from '../support/in-process-gateway.js'
import { until } from '../support/wait.js'

let gw!: InProcessGateway
afterEach(async () => {
  await gw.stop()
})

/** Pays `path` with a voucher of the maximum; the answer with its receipt decoded. */
async function pay(path: string, init: RequestInit = {}) {
  const authorization = await gw.credential(path, prices.metered)
  const response = await fetch(`${gw.url}${path}`, { ...init, headers: { authorization } })
  const header = response.headers.get('payment-receipt')
  return {
    status: response.status,
    headers: response.headers,
    receipt: header ? decodeReceipt(header) : undefined,
    body: await response.text(),
  }
}

const record = async () => (await gw.ledger.get(gw.channelId))!
const accessLine = () =>
  gw.lines.find((l) => l.msg === 'request' && l.outcome === 'forwarded' && l.charge !== undefined)
const rowsBody = (rows: number, pad = 0) =>
  JSON.stringify({ result: { metadata: { row_count: rows }, rows: 'x'.repeat(pad) } })

describe('a route priced from a JSON field', () => {
  it('charges base + perUnit × rows, releases the rest, and the receipt says how much', async () => {
    gw = await startInProcessGateway()
    const body = rowsBody(7)
    gw.script({ kind: 'answer', status: 200, body })
    const answer = await pay('/rows/1')
    const amount = metering.rows.base + 7n * metering.rows.perUnit
    expect(answer).toMatchObject({ status: 200, body })
    expect(answer.receipt).toMatchObject({
      acceptedCumulative: String(prices.metered),
      spent: String(amount),
      amount: String(amount),
      units: 1,
    })
    expect(await record()).toMatchObject({ spent: amount, reserved: 0n, units: 1 })
    await until('the access line', async () => accessLine())
    expect(accessLine()).toMatchObject({
      charge: 'committed',
      charged: String(amount),
      units: '7',
      priceBasis: 'units',
      price: String(prices.metered),
    })
    const text = await gw.metrics.render()
    expect(text).toContain(`mppgw_metered_units_total{route="GET /rows/:id"} 7`)
    expect(text).toContain(`mppgw_metered_answers_total{route="GET /rows/:id",basis="units"} 1`)
    expect(text).toContain(`mppgw_charged_base_units_total{route="GET /rows/:id"} ${amount}`)
  })

  it('never charges above the maximum', async () => {
    gw = await startInProcessGateway()
    gw.script({ kind: 'answer', status: 200, body: rowsBody(1_000_000) })
    const answer = await pay('/rows/1')
    expect(answer.receipt).toMatchObject({ amount: String(prices.metered) })
    expect(await record()).toMatchObject({ spent: prices.metered, reserved: 0n })
  })

  it('charges the maximum for a body over the buffer, and delivers it whole', async () => {
    gw = await startInProcessGateway()
    const body = rowsBody(3, 3 * metering.rows.bufferBytes)
    gw.script({
      kind: 'stream',
      chunks: [body.slice(0, 700), body.slice(700, 2000), body.slice(2000)],
    })
    const answer = await pay('/rows/1')
    expect(answer).toMatchObject({ status: 200, body })
    expect(answer.receipt).toMatchObject({ amount: String(prices.metered) })
    await until('the access line', async () => accessLine())
    expect(accessLine()).toMatchObject({
      priceBasis: 'over-buffer',
      charged: String(prices.metered),
    })
  })

  it('charges the maximum when the field is missing', async () => {
    gw = await startInProcessGateway()
    gw.script({ kind: 'answer', status: 200, body: '{"result":{}}' })
    const answer = await pay('/rows/1')
    expect(answer.receipt).toMatchObject({ amount: String(prices.metered) })
  })

  it('an answer that is not served is not charged', async () => {
    gw = await startInProcessGateway()
    gw.script({ kind: 'answer', status: 500, body: rowsBody(2) })
    const answer = await pay('/rows/1')
    expect(answer.status).toBe(500)
    expect(answer.receipt).toMatchObject({ spent: '0', amount: '0' })
    expect(await record()).toMatchObject({ spent: 0n, reserved: 0n, units: 0 })
  })

  it('a body cut short by the upstream before it was priced: 502, nothing charged', async () => {
    gw = await startInProcessGateway()
    gw.script({ kind: 'stream', chunks: ['{"result":', '{"metadata"'], cut: true })
    const answer = await pay('/rows/1')
    expect(answer.status).toBe(502)
    expect(answer.receipt).toMatchObject({ spent: '0' })
    expect(await record()).toMatchObject({ spent: 0n, reserved: 0n, units: 0 })
  })

  it('a client that leaves before the body was priced is not charged', async () => {
    gw = await startInProcessGateway()
    let finish!: () => void
    const arrived = gw.nextArrival()
    gw.script({
      kind: 'stream',
      chunks: ['{"result":', '{"metadata":{"row_count":4}}}'],
      after: new Promise<void>((r) => (finish = r)),
    })
    const leaving = new AbortController()
    const answer = pay('/rows/1', { signal: leaving.signal })
    await arrived
    leaving.abort()
    await expect(answer).rejects.toThrow()
    await until('the reservation to be released', async () =>
      (await record()).reserved === 0n ? true : undefined,
    )
    finish()
    expect(await record()).toMatchObject({ spent: 0n, units: 0 })
  })
})

describe('a route priced by response bytes', () => {
  it('prices a declared Content-Length without holding the body', async () => {
    gw = await startInProcessGateway()
    gw.script({ kind: 'answer', status: 200, body: 'y'.repeat(250) })
    const answer = await pay('/bytes/1')
    // 250 bytes: three started blocks of 100.
    expect(answer.receipt).toMatchObject({ amount: String(3n * metering.bytes.perUnit) })
  })

  it('prices a chunked body by holding it', async () => {
    gw = await startInProcessGateway()
    gw.script({ kind: 'stream', chunks: ['a'.repeat(120), 'b'.repeat(81)] })
    const answer = await pay('/bytes/1')
    expect(answer.body).toBe('a'.repeat(120) + 'b'.repeat(81))
    expect(answer.receipt).toMatchObject({ amount: String(3n * metering.bytes.perUnit) })
    expect(await record()).toMatchObject({ spent: 3n * metering.bytes.perUnit, reserved: 0n })
  })

  it('a declared body cut short after the head is charged for the length declared', async () => {
    gw = await startInProcessGateway()
    gw.script({
      kind: 'stream',
      headers: { 'content-length': '450' },
      chunks: ['z'.repeat(100), 'z'.repeat(50)],
      cut: true,
    })
    const authorization = await gw.credential('/bytes/1', prices.metered)
    const response = await fetch(`${gw.url}/bytes/1`, { headers: { authorization } })
    expect(response.status).toBe(200)
    expect(decodeReceipt(response.headers.get('payment-receipt')!)).toMatchObject({
      amount: String(5n * metering.bytes.perUnit),
    })
    await expect(response.text()).rejects.toThrow()
    expect(await record()).toMatchObject({ spent: 5n * metering.bytes.perUnit, reserved: 0n })
  })
})

describe('a route priced by an upstream header', () => {
  it('charges from the header and never shows it to the client', async () => {
    gw = await startInProcessGateway()
    gw.script({ kind: 'answer', status: 200, body: '{}', headers: { 'x-units': '12' } })
    const answer = await pay('/counted/1')
    expect(answer.headers.get('x-units')).toBeNull()
    expect(answer.receipt).toMatchObject({ amount: String(12n * metering.counted.perUnit) })
  })
})
