import { validate as validateDiscovery } from 'mppx/discovery'
import { privateKeyToAddress } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { parseConfig } from '../config/load.js'
import { discoveryDocuments, llmsText, openApiDocument } from './discovery.js'

const payeeKey = `0x${'11'.repeat(32)}` as const

function config(edit: (draft: Record<string, unknown>) => void = () => {}) {
  const draft: Record<string, unknown> = {
    server: { realm: 'api.example.com', challengeSecret: 'x'.repeat(32) },
    chain: { network: 'moderato' },
    payee: { address: privateKeyToAddress(payeeKey), signerKey: payeeKey },
    currency: { token: '0x20c0000000000000000000000000000000000000' },
    upstreams: {
      dune: { baseUrl: 'https://api.dune.com/api' },
      own: { baseUrl: 'https://own.example', clientAuthorization: 'passthrough' },
    },
    routes: [
      {
        method: 'POST',
        path: '/v1/sql/execute',
        upstream: 'dune',
        price: '0.05',
        description: 'Execute a query',
      },
      { method: 'GET', path: '/v1/execution/:id/status', upstream: 'dune', price: 'free' },
      { method: 'GET', path: '/v1/execution/:id/results', upstream: 'dune', price: '0.002' },
      { method: '*', path: '/v1/execution/:id/results', upstream: 'dune', price: '9' },
      { method: '*', path: '/own/*', upstream: 'own', price: '0.1', unitType: 'call' },
    ],
  }
  edit(draft)
  return parseConfig({ text: stringify(draft), env: {} })
}

type Operation = Record<string, unknown>
const operationAt = (doc: Record<string, unknown>, path: string, method: string) =>
  (doc.paths as Record<string, Record<string, Operation>>)[path]?.[method]

describe('the OpenAPI discovery document', () => {
  it("passes mppx 0.11's discovery validator without a warning", () => {
    expect(validateDiscovery(openApiDocument(config()))).toEqual([])
  })

  it('lists one offer per intent a route is paid with, and llms.txt says so', () => {
    const withCharge = config((draft) => {
      draft.tempoCharge = { enabled: true }
      const routes = draft.routes as Record<string, unknown>[]
      routes[2]!.intents = ['charge']
    })
    expect(validateDiscovery(openApiDocument(withCharge))).toEqual([])
    const doc = openApiDocument(withCharge)
    const intents = (path: string, method: string) =>
      (
        operationAt(doc, path, method)?.['x-payment-info'] as { offers: { intent: string }[] }
      ).offers.map((offer) => offer.intent)
    expect(intents('/v1/sql/execute', 'post')).toEqual(['session', 'charge'])
    expect(intents('/v1/execution/{id}/results', 'get')).toEqual(['charge'])
    const text = llmsText(withCharge)
    expect(text).toContain('- `GET /v1/execution/{id}/results` — 0.002 per request (tempo/charge)')
    expect(text).toContain('- Or pay per request with tempo/charge')
    expect(llmsText(config())).not.toContain('tempo/charge:')
  })

  it('states every priced operation with its price, currency, intent and unit type', () => {
    const doc = openApiDocument(config())
    expect(doc).toMatchObject({
      openapi: '3.1.0',
      info: { title: 'api.example.com', version: '1.0.0' },
      'x-service-info': { docs: { llms: '/llms.txt' } },
    })
    expect(operationAt(doc, '/v1/sql/execute', 'post')).toMatchObject({
      summary: 'Execute a query',
      responses: { '402': {}, '200': {} },
      'x-payment-info': {
        offers: [
          {
            method: 'tempo',
            intent: 'session',
            amount: '50000',
            currency: '0x20C0000000000000000000000000000000000000',
            decimals: 6,
            unitType: 'request',
            description: 'Execute a query',
          },
        ],
      },
    })
    // The first route of a method and path is the one requests reach: GET is the earlier route's.
    const results = operationAt(doc, '/v1/execution/{id}/results', 'get')!
    expect(results['x-payment-info']).toMatchObject({ offers: [{ amount: '2000' }] })
    expect(operationAt(doc, '/v1/execution/{id}/results', 'post')).toMatchObject({
      'x-payment-info': { offers: [{ amount: '9000000' }] },
    })
    expect(results.parameters).toEqual([
      { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
    ])
  })

  it('marks free operations free, without x-payment-info or a 402', () => {
    const status = operationAt(openApiDocument(config()), '/v1/execution/{id}/status', 'get')!
    expect(status['x-payment-free']).toBe(true)
    expect(status).not.toHaveProperty('x-payment-info')
    expect(status.responses).not.toHaveProperty('402')
  })

  it('lists a wildcard route under each method, with its rest-of-path parameter', () => {
    const doc = openApiDocument(config())
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      const op = operationAt(doc, '/own/{rest}', method)!
      expect(op['x-payment-info'], method).toMatchObject({ offers: [{ unitType: 'call' }] })
      expect(op.parameters, method).toMatchObject([{ name: 'rest', in: 'path' }])
      expect('requestBody' in op, method).toBe(['post', 'put', 'patch'].includes(method))
    }
  })

  it('follows the configuration: prices, title, paths, and documents switched off', () => {
    const repriced = config((d) => {
      const routes = d.routes as { price: string }[]
      routes[0]!.price = '0.07'
      d.discovery = { openapi: '/meta/api.json', llms: false, title: 'Dune via MPP' }
    })
    const docs = discoveryDocuments(repriced)
    expect(docs.llms).toBeUndefined()
    expect(docs.openapi?.path).toBe('/meta/api.json')
    const doc = JSON.parse(docs.openapi!.body) as Record<string, unknown>
    expect(doc.info).toEqual({ title: 'Dune via MPP', version: '1.0.0' })
    expect(doc).not.toHaveProperty('x-service-info')
    expect(operationAt(doc, '/v1/sql/execute', 'post')).toMatchObject({
      'x-payment-info': { offers: [{ amount: '70000' }] },
    })
    expect(discoveryDocuments(config((d) => (d.discovery = { openapi: false }))).openapi).toBe(
      undefined,
    )
  })
})

describe('llms.txt', () => {
  it('lists every route with its price, and how to pay', () => {
    expect(llmsText(config())).toBe(
      [
        '# api.example.com',
        '',
        '> A pay-per-request API. Priced routes answer 402 Payment Required with a Machine Payments Protocol (MPP) challenge; pay it with a Tempo session and retry.',
        '',
        '## Routes',
        '',
        '- `POST /v1/sql/execute` — 0.05 per request: Execute a query',
        '- `GET /v1/execution/{id}/status` — free',
        '- `GET /v1/execution/{id}/results` — 0.002 per request',
        '- `* /v1/execution/{id}/results` — 9 per request',
        '- `* /own/{rest}` — 0.1 per call (pay in Payment-Authorization)',
        '',
        '## Paying',
        '',
        '- Method: tempo/session (a TIP-1034 payment channel on chain 42431).',
        '- Currency: 0x20C0000000000000000000000000000000000000 (6 decimals); the prices above are in its units.',
        `- Recipient: ${privateKeyToAddress(payeeKey)}.`,
        '- Suggested deposit: 1.',
        '- A client that lost its channel state can recover its open channel: send HEAD to a priced route with `Accept-Payment: tempo/charge` and answer the zero-amount challenge with a proof.',
        '- Routes marked "pay in Payment-Authorization" forward your own Authorization header to the upstream; send the payment credential in Payment-Authorization.',
        '',
        '[OpenAPI discovery](/openapi.json)',
        '',
      ].join('\n'),
    )
  })

  it('says a metered route costs at most its price', () => {
    const metered = config((d) => {
      const routes = d.routes as Record<string, unknown>[]
      routes[0]!.metered = { perUnit: '0.0001', units: { jsonField: 'result.metadata.row_count' } }
    })
    expect(llmsText(metered)).toContain(
      '- `POST /v1/sql/execute` — at most 0.05 per request, priced from the answer (the receipt states the amount): Execute a query',
    )
  })
})
