/**
 * CORS as a browser sees it, header by header, through the whole pipeline in process: the
 * gateway answers preflights itself (never forwarded, never charged), and every answer to an
 * allowed origin — challenge, paid answer, problem — lets the page read the payment headers.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { CorsSettings } from '../../src/http/cors.js'
import {
  prices,
  startInProcessGateway,
  type InProcessGateway,
} from '../support/in-process-gateway.js'
import { samples } from '../support/scrape.js'
import { until } from '../support/wait.js'

const app = 'https://app.example.com'
const exposed = 'Payment-Receipt, WWW-Authenticate, X-Request-Id, Payment-Shadow-Price'
const settings: CorsSettings = {
  allowedOrigins: [app, 'http://localhost:5173'],
  allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
  maxAgeSeconds: 600,
}

let gw: InProcessGateway | undefined
afterEach(async () => {
  await gw?.stop()
  gw = undefined
})

/** The response's CORS-relevant headers, for exact comparison. */
function corsOf(response: Response): Record<string, string> {
  const out: Record<string, string> = {}
  response.headers.forEach((value, name) => {
    if (name.startsWith('access-control-') || name === 'vary') out[name] = value
  })
  return out
}

const preflight = (url: string, origin: string) =>
  fetch(url, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'GET',
      'access-control-request-headers': 'authorization',
    },
  })

describe('CORS', () => {
  it('answers a preflight from an allowed origin itself: never forwarded, never charged', async () => {
    const g = (gw = await startInProcessGateway({ cors: settings }))
    const response = await preflight(`${g.url}/paid/1`, app)
    expect(response.status).toBe(204)
    expect(corsOf(response)).toEqual({
      'access-control-allow-origin': app,
      'access-control-allow-methods': 'GET, HEAD, POST',
      'access-control-allow-headers': 'authorization, content-type, x-request-id',
      'access-control-max-age': '600',
      vary: 'Origin',
    })
    expect(response.headers.get('www-authenticate')).toBeNull()
    expect(await response.text()).toBe('')
    expect(g.seen).toEqual([])
    expect(await g.ledger.get(g.channelId)).toMatchObject({ spent: 0n, reserved: 0n })
    const line = await until('the preflight access line', async () =>
      g.lines.find((l) => l.msg === 'request' && l.method === 'OPTIONS'),
    )
    expect(line).toMatchObject({ outcome: 'preflight', status: 204, path: '/paid/1' })
    const values = samples(await g.metrics.render())
    expect(values.get('mppgw_requests_total{route="unmatched",outcome="preflight"}')).toBe('1')
    expect([...values.keys()].some((k) => k.startsWith('mppgw_challenges_issued_total{'))).toBe(
      false,
    )
  })

  it('refuses a preflight from another origin with no Access-Control-Allow-* header', async () => {
    const g = (gw = await startInProcessGateway({ cors: settings }))
    const response = await preflight(`${g.url}/paid/1`, 'https://evil.example')
    expect(response.status).toBe(204)
    expect(corsOf(response)).toEqual({ vary: 'Origin' })
    expect(g.seen).toEqual([])
  })

  it('lets an allowed page read the challenge, the receipt and the request id', async () => {
    const g = (gw = await startInProcessGateway({ cors: settings }))
    const challenge = await fetch(`${g.url}/paid/1`, { headers: { origin: app } })
    expect(challenge.status).toBe(402)
    expect(corsOf(challenge)).toEqual({
      'access-control-allow-origin': app,
      'access-control-expose-headers': exposed,
      vary: 'Origin',
    })
    expect(challenge.headers.get('www-authenticate')).toMatch(/^Payment /)

    // The upstream's own CORS headers are replaced by the gateway's; its own Vary stays.
    g.script({
      kind: 'answer',
      status: 200,
      headers: {
        'access-control-allow-origin': '*',
        'access-control-expose-headers': 'X-Upstream',
        vary: 'Accept-Encoding',
      },
    })
    const authorization = await g.credential('/paid/2', prices.paid)
    const paid = await fetch(`${g.url}/paid/2`, { headers: { origin: app, authorization } })
    expect(paid.status).toBe(200)
    expect(corsOf(paid)).toEqual({
      'access-control-allow-origin': app,
      'access-control-expose-headers': exposed,
      vary: 'Accept-Encoding',
    })
    expect(paid.headers.get('payment-receipt')).not.toBeNull()
    expect(paid.headers.get('x-request-id')).not.toBeNull()

    const problem = await fetch(`${g.url}/nowhere`, { headers: { origin: app } })
    expect(problem.status).toBe(404)
    expect(corsOf(problem)).toEqual({
      'access-control-allow-origin': app,
      'access-control-expose-headers': exposed,
      vary: 'Origin',
    })
  })

  it('adds nothing for another origin or no origin, and routes a plain OPTIONS', async () => {
    const g = (gw = await startInProcessGateway({ cors: settings }))
    const other = await fetch(`${g.url}/free/1`, { headers: { origin: 'https://evil.example' } })
    expect(other.status).toBe(200)
    expect(corsOf(other)).toEqual({ vary: 'Origin' })
    const none = await fetch(`${g.url}/paid/1`)
    expect(corsOf(none)).toEqual({ vary: 'Origin' })
    // No Access-Control-Request-Method: not a preflight, so it is routed (and no route takes it).
    const plain = await fetch(`${g.url}/paid/1`, { method: 'OPTIONS', headers: { origin: app } })
    expect(plain.status).toBe(404)
  })

  it('answers "*" to any origin, without Vary', async () => {
    const g = (gw = await startInProcessGateway({ cors: { ...settings, allowedOrigins: ['*'] } }))
    const response = await preflight(`${g.url}/paid/1`, 'https://anyone.example')
    expect(corsOf(response)).toEqual({
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'GET, HEAD, POST',
      'access-control-allow-headers': 'authorization, content-type, x-request-id',
      'access-control-max-age': '600',
    })
    const challenge = await fetch(`${g.url}/paid/1`, { headers: { origin: 'https://x.example' } })
    expect(corsOf(challenge)).toEqual({
      'access-control-allow-origin': '*',
      'access-control-expose-headers': exposed,
    })
  })

  it('adds no CORS header at all when server.cors is not set', async () => {
    const g = (gw = await startInProcessGateway())
    const response = await fetch(`${g.url}/paid/1`, { headers: { origin: app } })
    expect(response.status).toBe(402)
    expect(corsOf(response)).toEqual({})
    const options = await preflight(`${g.url}/paid/1`, app)
    expect(options.status).toBe(404)
  })
})
