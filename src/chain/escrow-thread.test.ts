import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import type { Hex } from 'viem'
import { attemptResults, failureResult } from '../settlement/attempts.js'
import { createEscrowClient } from './escrow.js'
import { ChainThreadError, threadedEscrow } from './escrow-thread.js'
import { tempoChain } from './networks.js'
import { ReceiptTimeoutError } from './receipts.js'
import { payeeAccount } from './signer.js'

// A throwaway key: nothing here reaches a real chain.
const signerKey: Hex = `0x${'11'.repeat(32)}`
const escrowAddress = '0x4d50500000000000000000000000000000000000' as const
const feeToken = '0x20c0000000000000000000000000000000000000' as const
const hash: Hex = `0x${'ab'.repeat(32)}`

type Rpc = { server: Server; url: string; methods: string[]; close(): Promise<void> }

/**
 * A JSON-RPC node on loopback that knows no receipt, refuses `eth_call` with an HTTP 500 and
 * never answers `eth_sendRawTransaction` (the hanging RPC).
 */
async function startRpc(): Promise<Rpc> {
  const methods: string[] = []
  const body = async (request: IncomingMessage) => {
    let text = ''
    for await (const chunk of request) text += String(chunk)
    return JSON.parse(text) as { id: number; method: string } | { id: number; method: string }[]
  }
  const server = createServer((request, response) => {
    void body(request).then((parsed) => {
      const calls = Array.isArray(parsed) ? parsed : [parsed]
      methods.push(...calls.map((call) => call.method))
      if (calls.some((call) => call.method === 'eth_sendRawTransaction')) return
      if (calls.some((call) => call.method === 'eth_call')) {
        response.writeHead(500).end('boom')
        return
      }
      const answers = calls.map((call) => ({ jsonrpc: '2.0', id: call.id, result: null }))
      response.setHeader('content-type', 'application/json')
      response.end(JSON.stringify(Array.isArray(parsed) ? answers : answers[0]))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    methods,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function clientFor(url: string) {
  const chain = { network: 'devnet' as const, chainId: 1337, rpcUrl: url }
  const base = createEscrowClient({
    chain: tempoChain(chain),
    rpcUrl: url,
    escrow: escrowAddress,
    account: payeeAccount(signerKey),
    feeToken,
  })
  return threadedEscrow(base, { chain, escrow: escrowAddress, signerKey, feeToken })
}

describe('the escrow client on its chain thread', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function setup() {
    const rpc = await startRpc()
    cleanups.push(() => rpc.close())
    const escrow = clientFor(rpc.url)
    cleanups.push(() => escrow.close())
    return { rpc, escrow }
  }

  it('answers from the thread: an unknown receipt is undefined, the node saw the call', async () => {
    const { rpc, escrow } = await setup()
    expect(await escrow.receipt(hash)).toBeUndefined()
    expect(rpc.methods).toContain('eth_getTransactionReceipt')
  })

  it('a receipt wait that times out comes back as the ReceiptTimeoutError it was', async () => {
    const { escrow } = await setup()
    const error = await escrow.waitForReceipt(hash, 300).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ReceiptTimeoutError)
    expect((error as ReceiptTimeoutError).hash).toBe(hash)
    expect(failureResult(error)).toBe('timeout')
  })

  it('an RPC failure crosses as a ChainThreadError with its kind and summary, no URL', async () => {
    const { rpc, escrow } = await setup()
    const error = await escrow.readStates([hash]).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ChainThreadError)
    const thread = error as ChainThreadError
    expect(thread.kind).toBe('rpc-error')
    expect(thread.name).toBe('HttpRequestError')
    expect(thread.shortMessage).toBe('HTTP request failed.')
    expect(`${thread.message} ${thread.details ?? ''}`).not.toContain(rpc.url)
    expect(failureResult(error)).toBe('rpc-error')
    expect(attemptResults).toContain(failureResult(error))
  })

  it('close rejects the calls still waiting on the thread, and every call after it', async () => {
    const { rpc, escrow } = await setup()
    const hanging = escrow.sendRaw('0x76').catch((e: unknown) => e)
    // The thread loads viem first (seconds under the test runner's loader).
    await expect
      .poll(() => rpc.methods.includes('eth_sendRawTransaction'), { timeout: 20_000 })
      .toBe(true)
    await escrow.close()
    const error = await hanging
    expect(error).toBeInstanceOf(ChainThreadError)
    expect((error as Error).message).toBe('the chain client is closed')
    await expect(escrow.chainTime()).rejects.toThrow('the chain client is closed')
  })
})
