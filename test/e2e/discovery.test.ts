/**
 * The discovery documents on a running gateway: the real `mppx discover validate` CLI accepts
 * `/openapi.json`; both documents state the configured prices (a repriced route shows its new
 * price); they can be moved or switched off; and a discovery request is never charged, never
 * forwarded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDevnetGateway, type DevnetGateway } from '../support/devnet-gateway.js'
import { memoryLogger } from '../support/gateway.js'
import { runMppx, type MppxRun } from '../support/mppx-cli.js'

const transcript = (run: MppxRun) =>
  `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`

type Operation = { 'x-payment-info'?: { offers: Record<string, unknown>[] } } & Record<
  string,
  unknown
>
type OpenApi = { paths: Record<string, Record<string, Operation>> } & Record<string, unknown>

describe('discovery at the default paths', () => {
  let setup: DevnetGateway
  const log = memoryLogger()

  beforeAll(async () => {
    setup = await startDevnetGateway({
      logger: log.logger,
      // A price changed in the configuration is what discovery states.
      edit: (doc) => doc.setIn(['routes', 0, 'price'], '0.0137'),
    })
  })
  afterAll(() => setup?.stop())

  it('`mppx discover validate` accepts /openapi.json', async () => {
    const run = await runMppx(['discover', 'validate', `${setup.gateway.url}/openapi.json`])
    expect(run.code, transcript(run)).toBe(0)
    expect(run.stdout.trim(), transcript(run)).toBe('Discovery document is valid.')
  })

  it('states each route with its price, and marks free routes free; nothing is charged or forwarded', async () => {
    const { gateway, upstream } = setup
    const seen = upstream.seen.length
    const linesBefore = log.lines.length
    const response = await fetch(`${gateway.url}/openapi.json`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/json')
    expect(response.headers.get('www-authenticate')).toBeNull()
    expect(response.headers.get('payment-receipt')).toBeNull()
    const doc = (await response.json()) as OpenApi
    expect(doc.paths['/v1/sql/execute']?.post?.['x-payment-info']).toEqual({
      offers: [
        {
          method: 'tempo',
          intent: 'session',
          amount: '13700',
          currency: '0x20C0000000000000000000000000000000000000',
          decimals: 6,
          unitType: 'request',
          description: 'Execute a SQL query',
        },
      ],
    })
    expect(doc.paths['/v1/execution/{id}/results']?.get?.['x-payment-info']?.offers).toEqual([
      expect.objectContaining({ amount: '10000' }),
    ])
    expect(doc.paths['/v1/execution/{id}/status']?.get).toMatchObject({ 'x-payment-free': true })

    const llms = await fetch(`${gateway.url}/llms.txt`)
    expect(llms.status).toBe(200)
    expect(llms.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    const text = await llms.text()
    expect(text).toContain('- `POST /v1/sql/execute` — 0.0137 per request: Execute a SQL query')
    expect(text).toContain('- `GET /v1/execution/{id}/status` — free')
    expect((await fetch(`${gateway.url}/openapi.json`, { method: 'HEAD' })).status).toBe(200)

    expect(upstream.seen.length).toBe(seen)
    const lines = log.lines.slice(linesBefore).filter((l) => l.msg === 'request')
    expect(lines.map((l) => `${String(l.status)} ${String(l.outcome)}`)).toEqual([
      '200 gateway',
      '200 gateway',
      '200 gateway',
    ])
  })
})

describe('discovery moved and switched off', () => {
  let setup: DevnetGateway

  beforeAll(async () => {
    setup = await startDevnetGateway({
      edit: (doc) => doc.set('discovery', { openapi: '/.well-known/openapi.json', llms: false }),
    })
  })
  afterAll(() => setup?.stop())

  it('serves the OpenAPI document at its new path only, and no llms.txt', async () => {
    const { gateway } = setup
    const run = await runMppx(['discover', 'validate', `${gateway.url}/.well-known/openapi.json`])
    expect(run.code, transcript(run)).toBe(0)
    const doc = (await (await fetch(`${gateway.url}/.well-known/openapi.json`)).json()) as OpenApi
    expect(doc).not.toHaveProperty('x-service-info')
    for (const gone of ['/openapi.json', '/llms.txt']) {
      const response = await fetch(`${gateway.url}${gone}`)
      expect(response.status, gone).toBe(404)
      expect(await response.json(), gone).toMatchObject({ code: 'route-not-found' })
    }
  })
})
