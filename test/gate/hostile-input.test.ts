/**
 * What a hostile client sends, in process (memory ledger, scripted loopback upstream), over raw
 * sockets where the bytes matter: every row gets its problem code, reaches the upstream only
 * when it is due and exactly as sent, changes nothing in the ledger it should not, and never
 * produces an error-level log line. The rows are those of issue 9 (a, b, b′, g, h).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  prices,
  startInProcessGateway,
  type InProcessGateway,
} from '../support/in-process-gateway.js'
import { rawExchange, rawRequest, type RawResponse } from '../support/raw-http.js'

type Header = readonly [string, string]

/** The problem code of an answer. */
const codeOf = (response: RawResponse) => (JSON.parse(response.body) as { code: string }).code

/** Header names as the upstream received them, lower-cased. */
const namesOf = (rawHeaders: readonly string[]) =>
  rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase())

function harness(options: Parameters<typeof startInProcessGateway>[0] = {}) {
  let gw!: InProcessGateway
  let cumulative = 0n
  beforeAll(async () => {
    gw = await startInProcessGateway(options)
  })
  afterAll(() => gw.stop())
  return {
    get gw() {
      return gw
    },
    /** A fresh voucher paying one more request. */
    pay: () => gw.credential('/paid/1', (cumulative += prices.paid)),
    record: async () => ({ ...(await gw.ledger.get(gw.channelId))!, updatedAt: 0 }),
    errorLines: () => gw.lines.filter((line) => (line.level as number) >= 50),
    request: (target: string, headers: readonly Header[] = [], method = 'GET') =>
      rawRequest(gw.url, { method, target, headers }),
  }
}

describe('a: a Payment credential beside another credential', () => {
  const t = harness()

  it('is refused with 400 multiple-credentials before any payment work, on every route', async () => {
    const credential = await t.pay()
    const before = await t.record()
    const arrivals = t.gw.arrivals()
    const mixed: (readonly Header[])[] = [
      [['Authorization', `Bearer tok, ${credential}`]],
      [['Authorization', `${credential}, Bearer tok`]],
      [['Authorization', `${credential}, ${credential}`]],
      // Two lines: Node keeps only the first in `headers`; the gate reads them all.
      [
        ['Authorization', 'Bearer tok'],
        ['Authorization', credential],
      ],
      [
        ['Authorization', credential],
        ['Authorization', `Bearer tok, ${credential}`],
      ],
    ]
    for (const headers of mixed) {
      const paid = await t.request('/paid/1', headers)
      expect(paid.status, headers.join(' | ')).toBe(400)
      expect(codeOf(paid)).toBe('multiple-credentials')
      // A priced route's 4xx carries a fresh challenge; no credential was accepted, no receipt.
      expect(paid.headers['www-authenticate']).toMatch(/^Payment /)
      expect(paid.headers['payment-receipt']).toBeUndefined()
      const free = await t.request('/free/1', headers)
      expect(free.status).toBe(400)
      expect(codeOf(free)).toBe('multiple-credentials')
    }
    expect(t.gw.arrivals()).toBe(arrivals)
    expect(await t.record()).toEqual(before)

    // The same credential alone pays: it was valid all along, and the upstream never sees it.
    const alone = await t.request('/paid/1', [['Authorization', credential]])
    expect(alone.status).toBe(200)
    expect(namesOf(t.gw.received.at(-1)!.rawHeaders)).not.toContain('authorization')
    expect(await t.record()).toMatchObject({ spent: prices.paid, reserved: 0n })
    expect(t.errorLines()).toEqual([])
  })
})

describe('b and b′: the request target', () => {
  const t = harness()

  it('forwards the raw target byte for byte, without a fragment, after routing its decoded path', async () => {
    const arrivals = t.gw.arrivals()
    const cases: [sent: string, upstream: string][] = [
      ['/free/a%20b', '/free/a%20b'],
      ['/free/%E2%82%AC', '/free/%E2%82%AC'],
      ['/free/%C3%A9?q=%C3%A9&r=a%20b', '/free/%C3%A9?q=%C3%A9&r=a%20b'],
      ['/free/1#?../paid/1', '/free/1'],
      ['/free/2?x=1#frag', '/free/2?x=1'],
      ['http://elsewhere.example/free/3?y=2', '/free/3?y=2'],
    ]
    for (const [sent, upstream] of cases) {
      const response = await t.request(sent)
      expect(response.status, sent).toBe(200)
      expect(t.gw.received.at(-1)!.url, sent).toBe(upstream)
    }
    expect(t.gw.arrivals()).toBe(arrivals + cases.length)
    expect(t.errorLines()).toEqual([])
  })

  it('answers 400 bad-request-target for a path the upstream cannot take, never forwarding it', async () => {
    const arrivals = t.gw.arrivals()
    const before = await t.record()
    for (const target of [
      '/free/%00',
      '/free/%09',
      '/free/a%0ab',
      '/free/%0d%0aX-Injected:%201',
      '/free/%7f',
      '/free/%zz',
      '/free/%E2%82',
      '/free/%C0%AF',
    ]) {
      const response = await t.request(target)
      expect(response.status, target).toBe(400)
      expect(codeOf(response), target).toBe('bad-request-target')
      expect(response.headers['content-type']).toBe('application/problem+json')
    }
    // Dot segments and encoded separators match no route: 404, never forwarded.
    for (const target of ['/free/../paid/1', '/free/%2e%2e/paid/1', '/free/a%2fb', '/free/..;']) {
      const response = await t.request(target)
      expect(response.status, target).toBe(404)
      expect(codeOf(response), target).toBe('route-not-found')
    }
    expect(t.gw.arrivals()).toBe(arrivals)
    expect(await t.record()).toEqual(before)
    expect(t.errorLines()).toEqual([])
  })

  it('refuses a paid request with such a path before its voucher is looked at', async () => {
    const before = await t.record()
    const arrivals = t.gw.arrivals()
    const refused = await t.request('/paid/%00', [['Authorization', await t.pay()]])
    expect(refused.status).toBe(400)
    expect(codeOf(refused)).toBe('bad-request-target')
    expect(refused.headers['payment-receipt']).toBeUndefined()
    expect(await t.record()).toEqual(before)
    expect(t.gw.arrivals()).toBe(arrivals)

    // A path that is merely encoded is paid for and forwarded as sent.
    const served = await t.request('/paid/a%20b', [['Authorization', await t.pay()]])
    expect(served.status).toBe(200)
    expect(served.headers['payment-receipt']).toBeDefined()
    expect(t.gw.received.at(-1)!.url).toBe('/paid/a%20b')
    expect(await t.record()).toMatchObject({ spent: before.spent + prices.paid, reserved: 0n })
    expect(t.errorLines()).toEqual([])
  })
})

describe('g: Expect: 100-continue', () => {
  const t = harness()

  it('answers a priced route without a credential with 402 and no 100 Continue', async () => {
    const arrivals = t.gw.arrivals()
    const before = await t.record()
    const exchange = rawExchange(
      t.gw.url,
      'POST /buy/1 HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\n' +
        'Content-Type: text/plain\r\nContent-Length: 1000\r\n\r\n',
    )
    const response = await exchange.response
    expect(response.statusLines).toHaveLength(1)
    expect(response.statusLines[0]).toMatch(/^HTTP\/1\.1 402 /)
    expect(codeOf(response)).toBe('payment-required')
    expect(response.text).not.toContain('100 Continue')
    exchange.socket.destroy()
    expect(t.gw.arrivals()).toBe(arrivals)
    expect(await t.record()).toEqual(before)
    expect(t.errorLines()).toEqual([])
  })

  it('asks for the body of an admitted request, and forwards it', async () => {
    const exchange = rawExchange(
      t.gw.url,
      'POST /upload/1 HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\n' +
        'Content-Length: 5\r\nConnection: close\r\n\r\n',
    )
    expect(await exchange.nextStatusLine()).toMatch(/^HTTP\/1\.1 100 /)
    exchange.socket.write('hello')
    const response = await exchange.response
    expect(response.status).toBe(200)
    expect(t.gw.received.at(-1)).toMatchObject({ url: '/upload/1', body: 'hello' })
  })
})

describe('h: the gateway endpoints and the headers about the client', () => {
  const secret = 'operator-secret-key'
  const t = harness({ upstream: { headers: { 'X-Dune-Api-Key': secret } } })

  it('serves its own endpoints only at their canonical path', async () => {
    const arrivals = t.gw.arrivals()
    for (const target of [
      '/__gateway/%68ealthz',
      '/__gateway/health%7a',
      '/%5f_gateway/healthz',
      '/__gateway//healthz',
      '/__gateway/healthz%2f',
      '/__gateway/%72eadyz',
    ]) {
      const response = await t.request(target)
      expect(response.status, target).toBe(404)
      expect(codeOf(response), target).toBe('route-not-found')
    }
    expect(t.gw.arrivals()).toBe(arrivals)
    const health = await t.request('/__gateway/healthz?probe=1')
    expect(health.status).toBe(200)
    expect(JSON.parse(health.body)).toEqual({ status: 'ok' })
    expect(t.errorLines()).toEqual([])
  })

  const spoofed: readonly Header[] = [
    ['Forwarded', 'for=198.51.100.1;proto=https;host=evil.example'],
    ['X-Real-IP', '198.51.100.1'],
    ['X-Forwarded-For', '198.51.100.1'],
    ['X-Forwarded-Host', 'evil.example'],
    ['X-Forwarded-Proto', 'https'],
    ['X-Forwarded-Port', '443'],
    ['X_Forwarded_For', '198.51.100.2'],
    ['X-Original-URL', '/paid/1'],
    ['X-Rewrite-URL', '/paid/1'],
    ['X-HTTP-Method-Override', 'DELETE'],
    ['X_Dune_Api_Key', 'client-key'],
    ['x-dune_api-key', 'client-key-2'],
  ]

  it("tells the upstream what the gateway saw, never the client's claims or keys", async () => {
    for (const [target, headers] of [
      ['/free/1', spoofed],
      ['/paid/1', [...spoofed, ['Authorization', await t.pay()] as const]],
    ] as const) {
      const response = await t.request(target, headers)
      expect(response.status, target).toBe(200)
      const { rawHeaders } = t.gw.received.at(-1)!
      const names = namesOf(rawHeaders).map((name) => name.replaceAll('_', '-'))
      for (const dropped of [
        'forwarded',
        'x-real-ip',
        'x-forwarded-port',
        'x-original-url',
        'x-rewrite-url',
        'x-http-method-override',
        'authorization',
      ]) {
        expect(names, dropped).not.toContain(dropped)
      }
      const values = (name: string) =>
        rawHeaders.filter((_, i) => i % 2 === 1 && rawHeaders[i - 1]!.toLowerCase() === name)
      expect(values('x-forwarded-for')).toEqual(['127.0.0.1'])
      expect(values('x-forwarded-proto')).toEqual(['http'])
      expect(values('x-forwarded-host')).toEqual([new URL(t.gw.url).host])
      expect(names.filter((name) => name === 'x-dune-api-key')).toHaveLength(1)
      expect(values('x-dune-api-key')).toEqual([secret])
    }
    expect(t.errorLines()).toEqual([])
  })
})

describe('h: behind a trusted proxy', () => {
  const t = harness({ trustedProxies: ['127.0.0.0/8'] })

  it("passes the proxy's forwarding headers on and appends it to the chain", async () => {
    const response = await t.request('/free/1', [
      ['X-Forwarded-For', '203.0.113.7'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Host', 'api.example'],
      ['X-Real-IP', '203.0.113.7'],
      ['X-Original-URL', '/paid/1'],
    ])
    expect(response.status).toBe(200)
    const { rawHeaders } = t.gw.received.at(-1)!
    const pairs = rawHeaders
      .map((value, i) => (i % 2 === 1 ? `${rawHeaders[i - 1]!.toLowerCase()}: ${value}` : ''))
      .filter((line) => line !== '')
    expect(pairs).toEqual(
      expect.arrayContaining([
        'x-real-ip: 203.0.113.7',
        'x-forwarded-for: 203.0.113.7, 127.0.0.1',
        'x-forwarded-proto: https',
        'x-forwarded-host: api.example',
      ]),
    )
    expect(pairs.some((line) => line.startsWith('x-original-url'))).toBe(false)
  })
})
