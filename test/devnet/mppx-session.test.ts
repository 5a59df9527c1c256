/**
 * The devnet is right when the real client and the real server agree on it: an mppx
 * `tempo.session` client pays an mppx server (both straight from the pinned npm package) for 20
 * requests, tops up once automatically, and closes; the chain then shows exact balances.
 */
import { serve, type ServerType } from '@hono/node-server'
import { tempo as clientTempo } from 'mppx/client'
import { Mppx, tempo as serverTempo } from 'mppx/server'
import { createClient, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { escrowAbi } from '../../src/chain/escrow-abi.js'
import { connectDevnet, type DevnetClient, type DevnetKey } from './devnet.js'

const price = 10_000n // 0.01 of a 6-decimal token
const suggestedDeposit = 100_000n // 0.1: ten requests, so the eleventh triggers a topUp

describe('mppx client and mppx server on the devnet', () => {
  let devnet: DevnetClient
  let payer: DevnetKey
  let server: ServerType
  let baseUrl: string

  beforeAll(async () => {
    devnet = connectDevnet(inject('devnet'))
    ;[payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const payee = privateKeyToAccount(devnet.payee.privateKey)
    const payeeClient = createClient({
      account: payee,
      chain: devnet.chain,
      transport: http(devnet.rpcUrl),
    })
    const mppx = Mppx.create({
      secretKey: 'devnet-test-secret-key-of-at-least-32-bytes',
      realm: 'devnet.test',
      methods: [
        serverTempo.session({
          account: payee,
          currency: devnet.token,
          chainId: devnet.chainId,
          feeToken: devnet.feeToken,
          getClient: () => payeeClient,
        }),
      ],
    })
    const pay = mppx.session({
      amount: '0.01',
      unitType: 'request',
      suggestedDeposit: '0.1',
    })
    server = serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: async (request) => {
        const result = await pay(request)
        if (result.status === 402) return result.challenge
        return result.withReceipt(Response.json({ ok: true }))
      },
    })
    await new Promise<void>((resolve) => server.once('listening', resolve))
    const address = server.address()
    if (!address || typeof address === 'string') throw new Error('no address')
    baseUrl = `http://127.0.0.1:${address.port}`
  })

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('pays 20 requests with one automatic topUp, closes, and settles exactly', async () => {
    const payerAccount = privateKeyToAccount(payer.privateKey)
    const payerClient = createClient({
      account: payerAccount,
      chain: devnet.chain,
      transport: http(devnet.rpcUrl),
    })
    const payeeBefore = await devnet.balance(devnet.payee.address)
    const payerBefore = await devnet.balance(payer.address)

    const session = clientTempo.session.manager({ client: payerClient, maxDeposit: '1' })
    const receipts = []
    for (let i = 0; i < 20; i++) {
      const response = await session.fetch(`${baseUrl}/api/data?i=${i}`)
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({ ok: true })
      receipts.push(response.receipt)
    }
    expect(receipts.at(-1)?.spent).toBe(String(20n * price))
    const channelId = session.channelId!

    const closeReceipt = await session.close()
    expect(closeReceipt?.txHash).toMatch(/^0x[0-9a-f]{64}$/)

    const topUps = await devnet.publicClient.getContractEvents({
      address: devnet.escrow,
      abi: escrowAbi,
      eventName: 'TopUp',
      args: { channelId },
      fromBlock: 0n,
    })
    expect(topUps).toHaveLength(1)
    const deposit = suggestedDeposit + topUps[0]!.args.additionalDeposit!

    expect(await devnet.balance(devnet.payee.address)).toBe(payeeBefore + 20n * price)
    // The payer's session-token balance only moves through the escrow (fees are in another token).
    expect(await devnet.balance(payer.address)).toBe(payerBefore - 20n * price)
    expect(deposit).toBeGreaterThan(20n * price - 1n)
    const state = await devnet.publicClient.readContract({
      address: devnet.escrow,
      abi: escrowAbi,
      functionName: 'getChannelState',
      args: [channelId],
    })
    expect(state).toEqual({ settled: 0n, deposit: 0n, closeRequestedAt: 0 })
  })
})
