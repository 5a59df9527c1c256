/**
 * A cooperative close is always possible: a payer that signs its close below what it was charged
 * (it lost answers, or rolled its voucher back) still gets its channel closed, with the capture at
 * exactly `spent` — the gateway closes with the highest voucher it holds — and gets
 * `deposit − spent` back at once instead of waiting out a forced close.
 */
import { tempo } from 'mppx/client'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import { connectDevnet, type DevnetKey } from '../devnet/devnet.js'
import { startDevnetGateway, type DevnetGateway } from '../support/devnet-gateway.js'
import { fetchChallenge, voucherSigner } from '../support/vouchers.js'

const price = 10_000n // "0.01" in config/devnet.yaml
const path = '/v1/execution/c/results'

describe('a close below spent', () => {
  let env: DevnetGateway
  let payee: DevnetKey

  beforeAll(async () => {
    // A payee of its own, so its balance moves only with this suite's channel.
    const [fresh] = await connectDevnet(inject('devnet')).newPayers(1)
    payee = fresh!
    env = await startDevnetGateway({
      extraEnv: { DEVNET_PAYEE_ADDRESS: payee.address, DEVNET_PAYEE_KEY: payee.privateKey },
      // The close is the only settlement, so the figures on chain are the close's.
      edit: (doc) => doc.setIn(['settlement', 'enabled'], false),
    })
  })
  afterAll(() => env.stop())

  it('completes with the stored voucher: capture = spent, the payer gets deposit − spent', async () => {
    const { devnet, gateway } = env
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const payerBefore = await devnet.balance(payer.address)
    const payeeBefore = await devnet.balance(payee.address)
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '1',
    })
    for (let i = 0; i < 3; i++) {
      const response = await session.fetch(`${gateway.url}${path}?i=${i}`)
      expect(response.status).toBe(200)
      await response.arrayBuffer()
    }
    const channelId = session.channelId!
    const record = (await gateway.deps.ledger.get(channelId))!
    expect(record).toMatchObject({ spent: 3n * price, status: 'open' })

    const signer = voucherSigner({
      payerKey: payer.privateKey,
      chainId: devnet.chainId,
      escrow: devnet.escrow,
      channelId,
      descriptor: record.descriptor,
      challenge: await fetchChallenge(`${gateway.url}${path}`),
    })
    const response = await fetch(`${gateway.url}${path}`, {
      method: 'POST',
      headers: { authorization: await signer.closeCredential(price) },
    })
    expect(response.status).toBe(204)
    const receipt = decodeReceipt(response.headers.get('payment-receipt')!)
    expect(receipt).toMatchObject({
      channelId,
      spent: String(3n * price),
      // The voucher the close transaction carried: the highest the gateway held.
      acceptedCumulative: String(record.accepted.cumulative),
    })
    expect(receipt.txHash).toMatch(/^0x[0-9a-f]{64}$/)

    expect(await gateway.deps.ledger.get(channelId)).toMatchObject({
      status: 'finalized',
      settled: 3n * price,
    })
    expect(await devnet.balance(payee.address)).toBe(payeeBefore + 3n * price)
    expect(await devnet.balance(payer.address)).toBe(payerBefore - 3n * price)
  })
})
