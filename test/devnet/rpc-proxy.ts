/**
 * A small JSON-RPC proxy in front of anvil that makes the devnet behave like a Tempo node for the
 * session flow. Both the gateway and MPP clients talk to the proxy, never to anvil directly.
 *
 * It does three things:
 *  1. **expiringNonceHash.** For every raw 0x76 transaction that calls the escrow's `open`, it
 *     computes `keccak256(encodeForSigning(tx) ‖ sender)` and writes it into the slot the Solidity
 *     stand-in reads (`anvil_setStorageAt`) just before forwarding the transaction. Raw submissions
 *     are serialized so two opens cannot swap hashes.
 *  2. **Gas estimates of 0x76 requests.** anvil 1.7.1 answers `eth_estimateGas` and
 *     `eth_fillTransaction` for a request with `calls` with a fixed figure that ignores the calls;
 *     an `open` through the stand-in needs more and would run out of gas. The proxy estimates each
 *     call on its own and keeps the higher figure.
 *  3. **Fault injection** for tests: answer chosen methods with errors, or hold them for a while,
 *     and count what was sent (e.g. how many times a transaction was broadcast).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Hex } from 'ox'
import { toFunctionSelector, type Address } from 'viem'
import { decodeTempoTransaction, isTempoTransaction } from '../../src/chain/tempo-tx.js'

type RpcRequest = { jsonrpc: '2.0'; id: number | string | null; method: string; params?: unknown[] }
type RpcResponse = {
  jsonrpc: '2.0'
  id: number | string | null
  result?: unknown
  error?: { code: number; message: string; data?: unknown }
}

/** A rule answering matching calls with an error (`error`) or after a delay (`hang`). */
export type FaultRule = {
  methods: readonly string[]
  kind: 'error' | 'hang'
  /** How many matching calls the rule affects before it retires. */
  times: number
  /** For `hang`: how long to hold the call before forwarding it. */
  holdMs?: number
}

export type RpcProxy = {
  readonly url: string
  /**
   * Every method called through the proxy, in order (`eth_sendRawTransaction*` with the raw
   * transaction); the latest `maxCalls` only.
   */
  readonly calls: readonly { method: string; rawTx?: Hex.Hex }[]
  /** The methods of every JSON-RPC batch (an array body) received, in order; bounded likewise. */
  readonly batches: readonly (readonly string[])[]
  injectFault(rule: FaultRule): void
  clearFaults(): void
  close(): Promise<void>
}

export type RpcProxyOptions = {
  upstream: string
  escrow: Address
  /** Storage slot of the stand-in that holds the open transaction's expiring nonce hash. */
  nonceHashSlot: Hex.Hex
  port?: number
  /** How many calls and batches to remember (a long run must not grow without bound). */
  maxCalls?: number
}

const openSelector = toFunctionSelector(
  'open(address,address,address,uint96,bytes32,address)',
).toLowerCase()

const rawSubmitMethods = new Set(['eth_sendRawTransaction', 'eth_sendRawTransactionSync'])

export async function startRpcProxy(options: RpcProxyOptions): Promise<RpcProxy> {
  const faults: (FaultRule & { left: number })[] = []
  /** Calls held by a `hang` fault; `close` lets them go at once. */
  const holds = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>()
  const calls: { method: string; rawTx?: Hex.Hex }[] = []
  const batches: string[][] = []
  const maxCalls = options.maxCalls ?? Number.POSITIVE_INFINITY
  /** Drops the oldest entries once a list holds twice the bound (amortized, in place). */
  const trim = (list: unknown[]) => {
    if (list.length > 2 * maxCalls) list.splice(0, list.length - maxCalls)
  }
  let submitQueue: Promise<unknown> = Promise.resolve()
  let nextId = 1

  const upstream = async (method: string, params: unknown[]): Promise<RpcResponse> => {
    const res = await fetch(options.upstream, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
    })
    return (await res.json()) as RpcResponse
  }

  const upstreamResult = async (method: string, params: unknown[]): Promise<unknown> => {
    const response = await upstream(method, params)
    if (response.error) throw new Error(`${method}: ${response.error.message}`)
    return response.result
  }

  /**
   * Seeds the stand-in's nonce-hash slot when `raw` is a Tempo transaction calling `open`; says
   * whether it did.
   */
  const seedOpenNonceHash = async (raw: Hex.Hex): Promise<boolean> => {
    if (!isTempoTransaction(raw) || !raw.toLowerCase().startsWith('0x76')) return false
    let decoded
    try {
      decoded = decodeTempoTransaction(raw)
    } catch {
      return false // let the node reject what it cannot decode
    }
    const opensChannel = decoded.calls.some(
      (call) =>
        call.to.toLowerCase() === options.escrow.toLowerCase() &&
        call.data.toLowerCase().startsWith(openSelector),
    )
    if (!opensChannel) return false
    await upstreamResult('anvil_setStorageAt', [
      options.escrow,
      options.nonceHashSlot,
      decoded.expiringNonceHash,
    ])
    return true
  }

  /**
   * anvil answers `eth_sendRawTransaction` once the transaction is in its pool, and automine mines
   * it a moment later: the next open must not overwrite the slot before then. Waits (bounded) for
   * the receipt when automine is on; with automine off the caller mines, and opens meant for one
   * block must be sent through one proxy call each anyway.
   */
  const untilMined = async (hash: unknown) => {
    if (typeof hash !== 'string' || (await upstreamResult('anvil_getAutomine', [])) !== true) return
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      if ((await upstreamResult('eth_getTransactionReceipt', [hash])) !== null) return
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
  }

  /** Gas for a request with `calls`: the node's figure or the sum of per-call estimates. */
  const repairedGas = async (request: Record<string, unknown>, reported: bigint) => {
    const requestCalls = request.calls as {
      to?: string
      data?: string
      input?: string
      value?: string
    }[]
    let sum = 0n
    for (const call of requestCalls) {
      const single: Record<string, unknown> = { to: call.to, data: call.data ?? call.input ?? '0x' }
      if (request.from) single.from = request.from
      if (call.value) single.value = call.value
      const estimate = await upstream('eth_estimateGas', [single, 'latest'])
      if (estimate.error) return { error: estimate.error }
      sum += BigInt(estimate.result as string)
    }
    return { gas: sum > reported ? sum : reported }
  }

  const handle = async (call: RpcRequest): Promise<RpcResponse> => {
    const params = call.params ?? []
    const rawTx = rawSubmitMethods.has(call.method) ? (params[0] as Hex.Hex) : undefined
    calls.push(rawTx ? { method: call.method, rawTx } : { method: call.method })
    trim(calls)

    const fault = faults.find((rule) => rule.left > 0 && rule.methods.includes(call.method))
    if (fault) {
      fault.left -= 1
      if (fault.kind === 'error') {
        return { jsonrpc: '2.0', id: call.id, error: { code: -32603, message: 'injected fault' } }
      }
      await new Promise<void>((resolve) => {
        const hold = {
          timer: setTimeout(() => {
            holds.delete(hold)
            resolve()
          }, fault.holdMs ?? 5_000),
          resolve,
        }
        holds.add(hold)
      })
    }

    if (rawTx) {
      // Serialize seed + submit so concurrent opens cannot overwrite each other's nonce hash.
      const run = submitQueue.then(async () => {
        const opens = await seedOpenNonceHash(rawTx)
        const response = await upstream(call.method, params)
        if (opens && !response.error && call.method === 'eth_sendRawTransaction')
          await untilMined(response.result)
        return response
      })
      submitQueue = run.catch(() => undefined)
      return { ...(await run), id: call.id }
    }

    const request = params[0] as Record<string, unknown> | undefined
    const hasCalls = Array.isArray(request?.calls) && (request.calls as unknown[]).length > 0
    if (hasCalls && call.method === 'eth_estimateGas') {
      const response = await upstream(call.method, params)
      if (response.error) return { ...response, id: call.id }
      const repaired = await repairedGas(request, BigInt(response.result as string))
      if ('error' in repaired) return { jsonrpc: '2.0', id: call.id, error: repaired.error }
      return { jsonrpc: '2.0', id: call.id, result: Hex.fromNumber(repaired.gas) }
    }
    if (hasCalls && call.method === 'eth_fillTransaction') {
      const response = await upstream(call.method, params)
      const filled = response.result as { tx?: { gas?: string } } | undefined
      if (response.error || !filled?.tx?.gas) return { ...response, id: call.id }
      const repaired = await repairedGas(request, BigInt(filled.tx.gas))
      if ('error' in repaired) return { jsonrpc: '2.0', id: call.id, error: repaired.error }
      filled.tx.gas = Hex.fromNumber(repaired.gas)
      return { ...response, id: call.id }
    }

    return { ...(await upstream(call.method, params)), id: call.id }
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      void (async () => {
        let body: unknown
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        } catch {
          res.writeHead(400, { 'content-type': 'application/json' })
          res.end(
            JSON.stringify({
              jsonrpc: '2.0',
              id: null,
              error: { code: -32700, message: 'parse error' },
            }),
          )
          return
        }
        try {
          if (Array.isArray(body)) {
            batches.push((body as RpcRequest[]).map((c) => c.method))
            trim(batches)
          }
          const answer = Array.isArray(body)
            ? await Promise.all((body as RpcRequest[]).map(handle))
            : await handle(body as RpcRequest)
          res.writeHead(200, { 'content-type': 'application/json' })
          res.end(JSON.stringify(answer))
        } catch (err) {
          res.writeHead(502, { 'content-type': 'application/json' })
          res.end(
            JSON.stringify({
              jsonrpc: '2.0',
              id: null,
              error: { code: -32603, message: `devnet proxy: ${(err as Error).message}` },
            }),
          )
        }
      })()
    })
  }

  const server: Server = createServer(onRequest)
  // Long enough for clients to keep their connections: undici (viem's and the gateway's RPC
  // pools) takes a server's keep-alive time less 2 s, and drops the connection after every answer
  // when nothing is left — which made every JSON-RPC call of the devnet pay for a new socket.
  // `close` ends idle connections at once anyway.
  server.keepAliveTimeout = 10_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    batches,
    injectFault(rule) {
      faults.push({ ...rule, left: rule.times })
    },
    clearFaults() {
      faults.length = 0
    },
    close() {
      for (const hold of holds) {
        clearTimeout(hold.timer)
        hold.resolve()
      }
      holds.clear()
      return new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
    },
  }
}
