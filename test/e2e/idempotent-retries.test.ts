/**
 * A retried `POST /v1/sql/execute` — not idempotent upstream: it spends the operator's Dune
 * credits — paid by the real mppx client on the devnet, through two gateway instances on one
 * Redis: the same Idempotency-Key gets one upstream call, one charge and identical answers,
 * wherever the retry lands; another body under the same key is refused, not forwarded, not
 * charged; and the close moves exactly one price on chain.
 */
import { tempo } from 'mppx/client'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import { connectDevnet, type DevnetClient, type DevnetKey } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { devnetConfig, startTestGateway } from '../support/gateway.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'

const price = 10_000n

describe('a retried paid POST on two instances sharing one Redis', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let redis: RedisServer
  let ledger: RedisLedger
  let payee: DevnetKey
  const gateways: Gateway[] = []

  beforeAll(async () => {
    devnet = connectDevnet(inject('devnet'))
    const [fresh] = await devnet.newPayers(1)
    payee = fresh!
    upstream = await startExampleUpstream()
    redis = await startRedisServer({ appendonly: true, appendfsync: 'always' })
    ledger = await createRedisLedger({ url: redis.url, keyPrefix: 'idem:' })
    for (let i = 0; i < 2; i++) {
      gateways.push(
        await startTestGateway({
          config: devnetConfig({
            devnet,
            upstreamUrl: upstream.url,
            extraEnv: { DEVNET_PAYEE_ADDRESS: payee.address, DEVNET_PAYEE_KEY: payee.privateKey },
            edit: (doc) => {
              doc.setIn(['ledger'], {
                type: 'redis',
                redis: { url: redis.url, keyPrefix: 'idem:', requireDurable: true },
              })
              doc.setIn(['settlement', 'enabled'], false)
            },
          }),
        }),
      )
    }
  })
  afterAll(async () => {
    for (const gateway of gateways) await gateway.stop()
    await ledger?.close()
    await redis?.stop()
    await upstream?.close()
  })

  it('one upstream call, one charge, identical answers; another body refused; exact on chain', async () => {
    const [a, b] = gateways as [Gateway, Gateway]
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const payeeBefore = await devnet.balance(payee.address)
    const payerBefore = await devnet.balance(payer.address)
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '5',
    })
    const execute = async (gateway: Gateway, body: string) => {
      const response = await session.fetch(`${gateway.url}/v1/sql/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'dune-run-7' },
        body,
      })
      const text = await response.text()
      const receipt = response.headers.get('payment-receipt')
      return {
        status: response.status,
        body: text,
        replayed: response.headers.get('idempotent-replayed'),
        spent: receipt ? String(decodeReceipt(receipt).spent) : null,
        code: response.headers.get('content-type')?.includes('problem')
          ? (JSON.parse(text) as { code: string }).code
          : undefined,
      }
    }
    const query = JSON.stringify({ query_sql: 'select count(*) from ethereum.transactions' })
    const executions = () => upstream.seen.filter((r) => r.url.startsWith('/v1/sql/execute'))

    const first = await execute(a, query)
    expect(first).toMatchObject({ status: 200, replayed: null, spent: String(price) })
    const onB = await execute(b, query)
    const onA = await execute(a, query)
    for (const retry of [onB, onA]) {
      expect(retry).toEqual({ ...first, replayed: 'true' })
    }
    expect(executions()).toHaveLength(1)

    const other = await execute(b, JSON.stringify({ query_sql: 'select 2' }))
    expect(other).toMatchObject({
      status: 422,
      code: 'idempotency-key-reused',
      spent: String(price),
    })
    expect(executions()).toHaveLength(1)
    expect(await ledger.get(session.channelId!)).toMatchObject({
      spent: price,
      units: 1,
      reserved: 0n,
    })

    const closed = await session.close()
    expect(closed?.spent).toBe(String(price))
    expect(await devnet.balance(payee.address)).toBe(payeeBefore + price)
    expect(await devnet.balance(payer.address)).toBe(payerBefore - price)
  })
})
