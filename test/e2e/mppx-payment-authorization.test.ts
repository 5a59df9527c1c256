/**
 * Negotiation with the real mppx 0.11 clients on the devnet:
 *  - an upstream that takes the client's own API key (`clientAuthorization: passthrough`): the
 *    challenges carry `header="Payment-Authorization"`, mppx pays in that header while its own
 *    `Authorization: Bearer …` reaches the upstream byte for byte and no payment header does; the
 *    session closes with exact amounts on chain;
 *  - a client that takes only `tempo/charge` (mppx's charge client states it in
 *    `Accept-Payment`) is answered `406 payment-method-unacceptable`, nothing forwarded.
 */
import { Challenge as MppxChallenge } from 'mppx'
import { Mppx, tempo } from 'mppx/client'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import { connectDevnet, type DevnetKey } from '../devnet/devnet.js'
import { startDevnetGateway, type DevnetGateway } from '../support/devnet-gateway.js'
import { memoryLogger } from '../support/gateway.js'

const price = 10_000n // "0.01" in config/devnet.yaml
/** A client's own credential for the upstream, with characters a rewrite would disturb. */
const ownAuthorization = 'Bearer sk_live_4f/+9==,x;y Zz'

describe('Payment-Authorization with the real mppx client (clientAuthorization: passthrough)', () => {
  let setup: DevnetGateway
  let payee: DevnetKey
  const log = memoryLogger()

  beforeAll(async () => {
    ;[payee] = (await connectDevnet(inject('devnet')).newPayers(1)) as [DevnetKey]
    setup = await startDevnetGateway({
      logger: log.logger,
      extraEnv: { DEVNET_PAYEE_ADDRESS: payee.address, DEVNET_PAYEE_KEY: payee.privateKey },
      edit: (doc) => {
        doc.setIn(['upstreams', 'example', 'clientAuthorization'], 'passthrough')
        // The close is the only settlement, so the figures on chain are exact.
        doc.setIn(['settlement', 'enabled'], false)
      },
    })
  })
  afterAll(() => setup?.stop())

  it("pays in Payment-Authorization; the client's Authorization reaches the upstream untouched", async () => {
    const { devnet, gateway, upstream } = setup
    const probe = await fetch(`${gateway.url}/v1/execution/p0/results`)
    expect(probe.status).toBe(402)
    expect(MppxChallenge.fromResponseList(probe).map((c) => c.header)).toEqual([
      'Payment-Authorization',
    ])

    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const payeeBefore = await devnet.balance(payee.address)
    const payerBefore = await devnet.balance(payer.address)
    const seenBefore = upstream.seen.length
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '1',
    })
    const requests: [string, RequestInit][] = [
      ['/v1/execution/p1/results', {}],
      [
        '/v1/sql/execute',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query_sql: 'select 1' }),
        },
      ],
      ['/v1/execution/p2/results/csv', {}],
    ]
    const spent: string[] = []
    for (const [path, init] of requests) {
      const headers = {
        ...(init.headers as Record<string, string>),
        authorization: ownAuthorization,
      }
      const response = await session.fetch(`${gateway.url}${path}`, { ...init, headers })
      expect(response.status, path).toBe(200)
      await response.arrayBuffer()
      spent.push(String(decodeReceipt(response.headers.get('payment-receipt')!).spent))
    }
    expect(spent).toEqual(['1', '2', '3'].map((n) => String(BigInt(n) * price)))

    const forwarded = upstream.seen.slice(seenBefore)
    expect(forwarded.map((r) => `${r.method} ${r.url.split('?')[0]}`)).toEqual([
      'GET /v1/execution/p1/results',
      'POST /v1/sql/execute',
      'GET /v1/execution/p2/results/csv',
    ])
    for (const request of forwarded) {
      expect(request.headers.authorization).toBe(ownAuthorization)
      for (const name of [
        'payment-authorization',
        'payment-session',
        'payment-session-snapshot',
        'accept-payment',
        'payment-receipt',
      ]) {
        expect(request.headers[name], name).toBeUndefined()
      }
      expect(JSON.stringify(request.headers)).not.toMatch(/Payment /i)
    }

    const closed = await session.close()
    expect(closed?.spent).toBe(String(3n * price))
    expect(await devnet.balance(payee.address)).toBe(payeeBefore + 3n * price)
    expect(await devnet.balance(payer.address)).toBe(payerBefore - 3n * price)
  })

  it('answers a charge-only client 406 payment-method-unacceptable, forwarding nothing', async () => {
    const { devnet, gateway, upstream } = setup
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const seenBefore = upstream.seen.length
    const client = Mppx.create({
      methods: [tempo.charge({ getClient: () => devnet.clientFor(payer.privateKey) })],
      polyfill: false,
    })
    const response = await client.fetch(`${gateway.url}/v1/execution/c1/results`)
    expect(response.status).toBe(406)
    expect(await response.json()).toMatchObject({
      code: 'payment-method-unacceptable',
      details: { offered: 'tempo/session' },
    })
    expect(upstream.seen.length).toBe(seenBefore)
    const answered = log.lines.filter(
      (l) => l.msg === 'request' && l.outcome === 'payment-method-unacceptable',
    )
    expect(answered).toHaveLength(1)
  })
})
