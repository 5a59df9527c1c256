/**
 * Settlement attempts are counted by how they ended, RPC failures and receipt time-outs included,
 * on a devnet of this file's own (its RPC proxy injects the faults): an RPC error before
 * anything was signed, a settle whose receipt does not come in time (its outcome unknown), and
 * the reconciliation that then finds it confirmed — exactly one of each.
 */
import { tempo } from 'mppx/client'
import { holdsConfirmed } from '../support/wait.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import { devnetInfo, startDevnet, type Devnet, type DevnetKey } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { devnetConfig, startTestGateway } from '../support/gateway.js'
import { samples } from '../support/scrape.js'
import { settleTransactions } from '../support/settle-transactions.js'

const price = 10_000n

describe('settlement attempt metrics', () => {
  let devnet: Devnet
  let upstream: ExampleUpstream
  let gateway: Gateway

  beforeAll(async () => {
    devnet = await startDevnet({ payers: 0 })
    upstream = await startExampleUpstream()
    gateway = await startTestGateway({
      config: devnetConfig({
        devnet: devnetInfo(devnet),
        upstreamUrl: upstream.url,
        edit: (doc) =>
          doc.set('settlement', {
            // Nothing is due on its own and no round runs by itself: the test runs each one.
            amountThreshold: '1000',
            depositPercent: 100,
            maxUnsettledSeconds: 86400,
            pollIntervalMs: 60000,
            reconcileIntervalSeconds: 86400,
            receiptTimeoutMs: 1000,
          }),
      }),
    })
  })
  afterAll(async () => {
    devnet.proxy.clearFaults()
    await gateway.stop()
    await upstream.close()
    await devnet.stop()
  })

  it('counts an RPC error, a receipt time-out and the confirmation, one each', async () => {
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '1',
    })
    for (let i = 0; i < 2; i++)
      await (await session.fetch(`${gateway.url}/v1/execution/m${i}/results`)).arrayBuffer()
    const channelId = session.channelId!
    const settler = gateway.settlement!.settler
    // Served holds become settleable once confirmed, in the background, just after the answers.
    await holdsConfirmed(gateway.deps.ledger, channelId)

    // The settle's first call reads the chain's clock; the RPC refuses it.
    devnet.proxy.injectFault({ methods: ['eth_getBlockByNumber'], kind: 'error', times: 1 })
    await settler.runOnce({ shuttingDown: true })
    devnet.proxy.clearFaults()
    expect(settleTransactions(devnet, channelId).size).toBe(0)

    // Sent, but no receipt arrives within receiptTimeoutMs: the outcome is unknown.
    devnet.proxy.injectFault({
      methods: ['eth_getTransactionReceipt'],
      kind: 'hang',
      times: 1_000,
      holdMs: 1_500,
    })
    await settler.runOnce({ shuttingDown: true })
    devnet.proxy.clearFaults()
    expect(settleTransactions(devnet, channelId).size).toBe(1)

    // The next round reconciles the intent from its receipt.
    await settler.runOnce()
    expect((await gateway.deps.ledger.get(channelId))!.settled).toBe(2n * price)

    const values = samples(await gateway.deps.metrics.render())
    const attempts = [...values].filter(([name]) =>
      name.startsWith('mppgw_settlement_attempts_total{'),
    )
    expect(Object.fromEntries(attempts)).toEqual({
      'mppgw_settlement_attempts_total{result="rpc-error"}': '1',
      'mppgw_settlement_attempts_total{result="timeout"}': '1',
      'mppgw_settlement_attempts_total{result="confirmed"}': '1',
    })
    expect(
      values.get('mppgw_settlement_transactions_total{kind="settle",result="confirmed"}'),
    ).toBe('1')
    expect(values.get('mppgw_unsettled_exposure_base_units')).toBe('0')
  }, 60_000)
})
