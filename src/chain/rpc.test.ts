import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { HttpRequestError, RpcRequestError } from 'viem'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createRpcPool, type RpcPool } from './rpc.js'

type Call = { id: number; method: string; params: unknown[] }

/**
 * A JSON-RPC node on loopback that records every POST body and answers each call with its params
 * echoed, an error for a call whose first param is `refuse`, or HTTP 500 for every call while
 * `down`. Batch answers come back in reverse order (the spec allows any order).
 */
let server: Server
let bodies: unknown[] = []
let down = false
let pool: RpcPool

const answer = (call: Call) =>
  call.params[0] === 'refuse'
    ? { jsonrpc: '2.0', id: call.id, error: { code: -32000, message: 'refused' } }
    : { jsonrpc: '2.0', id: call.id, result: { method: call.method, params: call.params } }

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as Call | Call[]
      bodies.push(body)
      if (down) {
        res.writeHead(500).end('down')
        return
      }
      const reply = Array.isArray(body) ? body.map(answer).reverse() : answer(body)
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  pool = createRpcPool({ url: `http://127.0.0.1:${port}/key/secret`, timeoutMs: 5_000 })
})

afterAll(async () => {
  await pool.close()
  await new Promise((resolve) => server.close(resolve))
})

beforeEach(() => {
  bodies = []
  down = false
})

describe('rpc call', () => {
  it('sends the calls of one method made in one turn as one batch, each with its own answer', async () => {
    const results = await Promise.all([
      pool.call('eth_sendRawTransaction', ['0x01']),
      pool.call('eth_sendRawTransaction', ['0x02']),
      pool.call('eth_sendRawTransaction', ['0x03']),
    ])
    expect(results).toEqual(
      ['0x01', '0x02', '0x03'].map((raw) => ({
        method: 'eth_sendRawTransaction',
        params: [raw],
      })),
    )
    expect(bodies).toHaveLength(1)
    expect((bodies[0] as Call[]).map((call) => call.params[0])).toEqual(['0x01', '0x02', '0x03'])
  })

  it('sends a lone call alone, not as a batch', async () => {
    expect(await pool.call('eth_fillTransaction', [{ from: '0x1' }])).toEqual({
      method: 'eth_fillTransaction',
      params: [{ from: '0x1' }],
    })
    expect(bodies).toHaveLength(1)
    expect(Array.isArray(bodies[0])).toBe(false)
  })

  it('never batches two methods together', async () => {
    await Promise.all([
      pool.call('eth_fillTransaction', [1]),
      pool.call('eth_sendRawTransaction', ['0x01']),
      pool.call('eth_fillTransaction', [2]),
    ])
    const methods = bodies.map((body) =>
      (Array.isArray(body) ? body : [body]).map((call: Call) => call.method),
    )
    expect(methods).toHaveLength(2)
    expect(methods).toContainEqual(['eth_fillTransaction', 'eth_fillTransaction'])
    expect(methods).toContainEqual(['eth_sendRawTransaction'])
  })

  it('splits a turn of more than 100 calls into batches of at most 100', async () => {
    const calls = Array.from({ length: 230 }, (_, i) => pool.call('eth_fillTransaction', [i]))
    const results = (await Promise.all(calls)) as { params: number[] }[]
    expect(results.map((result) => result.params[0])).toEqual(
      Array.from({ length: 230 }, (_, i) => i),
    )
    expect(bodies.map((body) => (body as Call[]).length)).toEqual([100, 100, 30])
  })

  it("rejects only the call the node refused, with the node's error, batched or alone", async () => {
    const [refused, answered] = await Promise.allSettled([
      pool.call('eth_fillTransaction', ['refuse']),
      pool.call('eth_fillTransaction', ['fine']),
    ])
    expect(bodies).toHaveLength(1)
    expect(answered.status).toBe('fulfilled')
    expect(refused.status).toBe('rejected')
    const error = (refused as PromiseRejectedResult).reason as RpcRequestError
    expect(error).toBeInstanceOf(RpcRequestError)
    expect(error.code).toBe(-32000)
    await expect(pool.call('eth_fillTransaction', ['refuse'])).rejects.toBeInstanceOf(
      RpcRequestError,
    )
  })

  it('rejects every call of a failed request, naming the node by its origin only', async () => {
    down = true
    const results = await Promise.allSettled([pool.call('a', []), pool.call('a', [])])
    for (const result of results) {
      expect(result.status).toBe('rejected')
      const error = (result as PromiseRejectedResult).reason as Error
      expect(error).toBeInstanceOf(HttpRequestError)
      expect(error.message).not.toContain('secret')
    }
  })
})
