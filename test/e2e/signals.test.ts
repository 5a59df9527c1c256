/**
 * Signals an operator or a supervisor may send the gateway process: SIGHUP reloads the (here
 * unchanged) configuration — the process keeps serving, its memory ledger intact — and SIGTERM
 * still stops it gracefully afterwards. (Reloading a changed file: reload.test.ts.)
 */
import { tempo } from 'mppx/client'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import { connectDevnet, type DevnetClient, type DevnetKey } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { startGatewayProcess } from '../support/gateway-process.js'
import { until } from '../support/wait.js'

const paidPath = '/v1/execution/x/results'

describe('signals', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream

  beforeAll(async () => {
    devnet = connectDevnet(inject('devnet'))
    upstream = await startExampleUpstream()
  })
  afterAll(() => upstream.close())

  it('f: SIGHUP reloads without a restart; the ledger survives; SIGTERM still stops gracefully', async () => {
    const gateway = await startGatewayProcess({ devnet, upstreamUrl: upstream.url })
    try {
      const [key] = (await devnet.newPayers(1)) as [DevnetKey]
      const session = tempo.session.manager({
        client: devnet.clientFor(key.privateKey),
        maxDeposit: '1',
      })
      expect((await session.fetch(`${gateway.url}${paidPath}`)).status).toBe(200)

      process.kill(gateway.pid, 'SIGHUP')
      await until('the SIGHUP reload line', async () =>
        gateway.lines.find((line) => line.trigger === 'SIGHUP'),
      )
      expect((await fetch(`${gateway.url}/__gateway/healthz`)).status).toBe(200)
      // The channel is still known: the next voucher pays on top of the first.
      const paid = await session.fetch(`${gateway.url}${paidPath}`)
      expect(paid.status).toBe(200)
      expect(decodeReceipt(paid.headers.get('payment-receipt')!)).toMatchObject({
        spent: '20000',
        units: 2,
      })
    } finally {
      await gateway.stop()
    }
    expect(gateway.lines.map((line) => line.msg)).toContain('gateway stopped')
    expect(gateway.lines.filter((line) => (line.level as number) >= 50)).toEqual([])
  })
})
