/**
 * End to end, with every part real: the devnet chain, a loopback upstream, the gateway, and the
 * mppx `tempo.session` client from the pinned npm package paying per request.
 */
import { tempo } from 'mppx/client'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import { connectDevnet, type DevnetClient, type DevnetKey } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { devnetConfig, startTestGateway } from '../support/gateway.js'

const price = 10_000n // "0.01" in config/devnet.yaml
const paymentHeaders = [
  'authorization',
  'payment-session',
  'payment-session-snapshot',
  'accept-payment',
]

describe('the real mppx client pays through the gateway', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let gateway: Gateway

  beforeAll(async () => {
    devnet = connectDevnet(inject('devnet'))
    upstream = await startExampleUpstream()
    gateway = await startTestGateway({
      config: devnetConfig({ devnet, upstreamUrl: upstream.url }),
    })
  })
  afterAll(async () => {
    await gateway.stop()
    await upstream.close()
  })

  function payerSession(payer: DevnetKey) {
    const client = devnet.clientFor(payer.privateKey)
    return tempo.session.manager({ client, maxDeposit: '1' })
  }

  it('20 paid requests with one automatic topUp, then a close: exact on chain', async () => {
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const payeeBefore = await devnet.balance(devnet.payee.address)
    const payerBefore = await devnet.balance(payer.address)
    const seenBefore = upstream.seen.length
    const session = payerSession(payer)

    const receipts: Record<string, unknown>[] = []
    for (let i = 0; i < 20; i++) {
      const response = await session.fetch(`${gateway.url}/v1/execution/e${i}/results`)
      expect(response.status).toBe(200)
      expect(((await response.json()) as { execution_id: string }).execution_id).toBe(`e${i}`)
      const header = response.headers.get('payment-receipt')
      expect(header).toBeTruthy()
      expect(response.headers.get('cache-control')).toBe('private')
      receipts.push(decodeReceipt(header!))
    }
    expect(receipts.at(-1)).toMatchObject({
      method: 'tempo',
      intent: 'session',
      status: 'success',
      channelId: session.channelId,
      spent: String(20n * price),
      units: 20,
    })
    expect(receipts.map((r) => r.spent)).toEqual(
      Array.from({ length: 20 }, (_, i) => String(BigInt(i + 1) * price)),
    )

    const forwarded = upstream.seen.slice(seenBefore)
    expect(forwarded).toHaveLength(20)
    for (const request of forwarded) {
      for (const name of paymentHeaders) expect(request.headers[name]).toBeUndefined()
    }

    const closeReceipt = await session.close()
    expect(closeReceipt?.txHash).toMatch(/^0x[0-9a-f]{64}$/)
    expect(closeReceipt?.spent).toBe(String(20n * price))
    expect(upstream.seen.length - seenBefore).toBe(20)

    const channelId = session.channelId!
    const topUps = await devnet.publicClient.getContractEvents({
      address: devnet.escrow,
      abi: (await import('../../src/chain/escrow-abi.js')).escrowAbi,
      eventName: 'TopUp',
      args: { channelId },
      fromBlock: 0n,
    })
    expect(topUps).toHaveLength(1)
    expect(await devnet.balance(devnet.payee.address)).toBe(payeeBefore + 20n * price)
    expect(await devnet.balance(payer.address)).toBe(payerBefore - 20n * price)
    const record = await gateway.deps.ledger.get(channelId)
    expect(record).toMatchObject({
      status: 'finalized',
      spent: 20n * price,
      units: 20,
      settled: 20n * price,
    })
  })

  it('does not charge answers the upstream failed, and closes on the charged total', async () => {
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const payeeBefore = await devnet.balance(devnet.payee.address)
    const session = payerSession(payer)
    const statuses: number[] = []
    for (let i = 0; i < 8; i++) {
      if (i === 2 || i === 5) upstream.failNext(1, 500)
      const response = await session.fetch(`${gateway.url}/v1/execution/f${i}/results`)
      statuses.push(response.status)
      // Every answer to a paid request carries the receipt; a failed one shows spent unchanged.
      const receipt = decodeReceipt(response.headers.get('payment-receipt')!)
      const charged = BigInt(statuses.filter((s) => s === 200).length)
      expect(receipt.spent).toBe(String(charged * price))
      await response.arrayBuffer()
    }
    expect(statuses).toEqual([200, 200, 500, 200, 200, 500, 200, 200])
    const channelId = session.channelId!
    expect(await gateway.deps.ledger.get(channelId)).toMatchObject({ spent: 6n * price, units: 6 })

    const closeReceipt = await session.close()
    expect(closeReceipt?.spent).toBe(String(6n * price))
    expect(await devnet.balance(devnet.payee.address)).toBe(payeeBefore + 6n * price)
  })
})
