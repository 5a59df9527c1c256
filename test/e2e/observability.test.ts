/**
 * What operators and clients see besides the payload: exact challenge and receipt headers
 * (pinned), one access line per request, no secret in any log line, readiness during shutdown.
 */
import { tempo } from 'mppx/client'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import { sessionReceipt } from '../../src/protocol/receipt.js'
import { parsePaymentChallenges } from '../../src/protocol/auth-params.js'
import { decodeBase64urlJson } from '../../src/protocol/base64url.js'
import { connectDevnet, type DevnetClient, type DevnetKey } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import {
  devnetConfig,
  memoryLogger,
  startTestGateway,
  testChallengeSecret,
} from '../support/gateway.js'

describe('headers, logs and readiness', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let gateway: Gateway
  let lines: Record<string, unknown>[]
  const upstreamKey = 'dune-api-key-that-must-never-be-logged'

  beforeAll(async () => {
    devnet = connectDevnet(inject('devnet'))
    upstream = await startExampleUpstream()
    const log = memoryLogger()
    lines = log.lines
    gateway = await startTestGateway({
      logger: log.logger,
      now: () => Date.parse('2026-11-21T12:00:00.000Z'),
      config: devnetConfig({
        devnet: {
          ...devnet,
          payee: {
            address: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
            privateKey: '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
          },
        },
        upstreamUrl: upstream.url,
        edit: (doc) =>
          doc.setIn(['upstreams', 'example', 'headers'], { 'X-Dune-Api-Key': upstreamKey }),
      }),
    })
  })
  afterAll(async () => {
    await gateway.stop()
    await upstream.close()
  })

  it('pins the exact WWW-Authenticate challenge', async () => {
    const response = await fetch(`${gateway.url}/v1/execution/1/results`)
    expect(response.status).toBe(402)
    expect(response.headers.get('cache-control')).toBe('no-store')
    const header = response.headers.get('www-authenticate')!
    const [challenge] = parsePaymentChallenges(header)
    expect(decodeBase64urlJson(challenge!.request!)).toEqual({
      amount: '10000',
      currency: '0x20C0000000000000000000000000000000000000',
      methodDetails: {
        chainId: devnet.chainId,
        escrowContract: '0x4d50500000000000000000000000000000000000',
        feeToken: '0x20C0000000000000000000000000000000000001',
        sessionProtocol: 'v2',
      },
      recipient: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      suggestedDeposit: '100000',
      unitType: 'request',
    })
    expect(header).toMatchInlineSnapshot(
      `"Payment id="CLE3E3LI_1Fd3BAIT2NWFznZcNd3gRMXi0IuHZ80amc", realm="localhost", method="tempo", intent="session", request="eyJhbW91bnQiOiIxMDAwMCIsImN1cnJlbmN5IjoiMHgyMEMwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwIiwibWV0aG9kRGV0YWlscyI6eyJjaGFpbklkIjoxMzM3LCJlc2Nyb3dDb250cmFjdCI6IjB4NGQ1MDUwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMCIsImZlZVRva2VuIjoiMHgyMEMwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAxIiwic2Vzc2lvblByb3RvY29sIjoidjIifSwicmVjaXBpZW50IjoiMHg3MDk5Nzk3MEM1MTgxMmRjM0EwMTBDN2QwMWI1MGUwZDE3ZGM3OUM4Iiwic3VnZ2VzdGVkRGVwb3NpdCI6IjEwMDAwMCIsInVuaXRUeXBlIjoicmVxdWVzdCJ9", description="Results of a query execution (JSON)", expires="2026-11-21T12:05:00.000Z""`,
    )
  })

  it('pins the exact Payment-Receipt', () => {
    const receipt = sessionReceipt({
      channelId: '0xacb44c99628c13f4527a158b10ec1304b721b4422d630e047ec787d9a441bef8',
      challengeId: 'mhvDSgGSV10F8ApIdyZieRV5GJjoxsZQGqd3c9MKjr8',
      acceptedCumulative: 10_000n,
      spent: 10_000n,
      units: 1,
      txHash: '0xa1b5aac9fd2ace3b78d659ecf8cb70a20ab039bfbc1ef0a550c70f7b74734ae1',
      now: Date.parse('2026-11-21T09:08:56.272Z'),
    })
    // The same bytes a real mppx server sent for the same values (wire-samples.md §5).
    expect(receipt).toMatchInlineSnapshot(
      `"eyJtZXRob2QiOiJ0ZW1wbyIsImludGVudCI6InNlc3Npb24iLCJzdGF0dXMiOiJzdWNjZXNzIiwidGltZXN0YW1wIjoiMjAyNi0xMS0yMVQwOTowODo1Ni4yNzJaIiwicmVmZXJlbmNlIjoiMHhhY2I0NGM5OTYyOGMxM2Y0NTI3YTE1OGIxMGVjMTMwNGI3MjFiNDQyMmQ2MzBlMDQ3ZWM3ODdkOWE0NDFiZWY4IiwiY2hhbGxlbmdlSWQiOiJtaHZEU2dHU1YxMEY4QXBJZHlaaWVSVjVHSmpveHNaUUdxZDNjOU1LanI4IiwiY2hhbm5lbElkIjoiMHhhY2I0NGM5OTYyOGMxM2Y0NTI3YTE1OGIxMGVjMTMwNGI3MjFiNDQyMmQ2MzBlMDQ3ZWM3ODdkOWE0NDFiZWY4IiwiYWNjZXB0ZWRDdW11bGF0aXZlIjoiMTAwMDAiLCJzcGVudCI6IjEwMDAwIiwidW5pdHMiOjEsInR4SGFzaCI6IjB4YTFiNWFhYzlmZDJhY2UzYjc4ZDY1OWVjZjhjYjcwYTIwYWIwMzliZmJjMWVmMGE1NTBjNzBmN2I3NDczNGFlMSJ9"`,
    )
  })

  it('writes one access line per request, and no secret reaches any log line', async () => {
    // A second gateway on the real payee key and clock, so a paid flow can happen.
    const log = memoryLogger()
    const paying = await startTestGateway({
      logger: log.logger,
      config: devnetConfig({
        devnet,
        upstreamUrl: upstream.url,
        edit: (doc) =>
          doc.setIn(['upstreams', 'example', 'headers'], { 'X-Dune-Api-Key': upstreamKey }),
      }),
    })
    try {
      const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
      const client = devnet.clientFor(payer.privateKey)
      const sent: string[] = []
      const fetchAndKeep = async (input: string | URL | Request, init?: RequestInit) => {
        const headers = new Headers(init?.headers)
        const authorization = headers.get('authorization')
        if (authorization) sent.push(authorization)
        return fetch(input, init)
      }
      const tracked = tempo.session.manager({ client, maxDeposit: '1', fetch: fetchAndKeep })
      const answeredIds: (string | null)[] = []
      for (let i = 0; i < 3; i++) {
        const answer = await tracked.fetch(`${paying.url}/v1/execution/${i}/results`)
        expect(answer.status).toBe(200)
        answeredIds.push(answer.headers.get('x-request-id'))
      }
      await tracked.close()
      expect(sent.length).toBeGreaterThan(3)

      const access = log.lines.filter((l) => l.msg === 'request')
      // Each paid request is two exchanges (a 402 probe, then the paid request), plus the close.
      expect(access.length).toBeGreaterThanOrEqual(7)
      const paid = access.filter((l) => l.outcome === 'forwarded')
      expect(paid).toHaveLength(3)
      expect(paid.map((l) => l.requestId)).toEqual(answeredIds)
      for (const line of paid) {
        expect(line).toMatchObject({
          route: 'GET /v1/execution/:id/results',
          price: '10000',
          status: 200,
          upstreamStatus: 200,
          charged: '10000',
        })
        expect(line.channelId).toBe(tracked.channelId)
        expect(typeof line.durationMs).toBe('number')
      }
      expect(access.filter((l) => l.outcome === 'challenge').length).toBeGreaterThanOrEqual(3)
      expect(access.some((l) => l.outcome === 'close')).toBe(true)

      const everything = JSON.stringify([...log.lines, ...lines])
      expect(everything).not.toContain(testChallengeSecret)
      expect(everything).not.toContain(devnet.payee.privateKey.slice(2))
      expect(everything).not.toContain(upstreamKey)
      for (const authorization of sent) expect(everything).not.toContain(authorization.slice(8, 60))
      expect(upstream.seen.some((r) => r.headers['x-dune-api-key'] === upstreamKey)).toBe(true)
    } finally {
      await paying.stop()
    }
  })

  it('names every request with X-Request-Id: in the answer, to the upstream, in the access line', async () => {
    const seenBefore = upstream.seen.length
    const free = await fetch(`${gateway.url}/v1/execution/7/status`)
    expect(free.status).toBe(200)
    const generated = free.headers.get('x-request-id')
    expect(generated).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    )
    expect(upstream.seen[seenBefore]!.headers['x-request-id']).toBe(generated)

    const named = await fetch(`${gateway.url}/v1/execution/8/status`, {
      headers: { 'x-request-id': 'client-chosen-42' },
    })
    expect(named.headers.get('x-request-id')).toBe('client-chosen-42')
    expect(upstream.seen[seenBefore + 1]!.headers['x-request-id']).toBe('client-chosen-42')

    const challenged = await fetch(`${gateway.url}/v1/execution/9/results`, {
      headers: { 'x-request-id': 'unpaid-1' },
    })
    expect(challenged.status).toBe(402)
    expect(challenged.headers.get('x-request-id')).toBe('unpaid-1')
    const unknown = await fetch(`${gateway.url}/nowhere`, { headers: { 'x-request-id': 'lost-1' } })
    expect(unknown.status).toBe(404)
    expect(unknown.headers.get('x-request-id')).toBe('lost-1')
    expect(upstream.seen.length).toBe(seenBefore + 2)

    const access = lines.filter((l) => l.msg === 'request')
    for (const id of [generated, 'client-chosen-42', 'unpaid-1', 'lost-1'])
      expect(access.filter((l) => l.requestId === id)).toHaveLength(1)
  })

  it('is not ready while it drains at shutdown', async () => {
    const draining = await startTestGateway({
      config: devnetConfig({ devnet, upstreamUrl: upstream.url }),
    })
    expect(await draining.deps.readiness.check()).toEqual({ status: 'ready', reasons: [] })
    upstream.delayNext(1, 500)
    const slow = fetch(`${draining.url}/v1/execution/d/status`)
    await new Promise((r) => setTimeout(r, 150))
    const stopped = draining.stop()
    expect(await draining.deps.readiness.check()).toEqual({
      status: 'not-ready',
      reasons: ['shutting down'],
    })
    expect((await slow).status).toBe(200)
    await stopped
  })
})
