/**
 * JSON-RPC over one undici connection pool: the transport of the gateway's chain clients.
 *
 * Why not viem's `http` transport: it goes through the WHATWG `fetch` of Node (web streams,
 * `Headers`, an `AbortSignal` per call) and builds a `TimeoutError`, stack trace included, for
 * every request before it is sent. A settlement makes a handful of calls; profiled, that
 * machinery cost more CPU than the work itself (issue 10: ~30 ms per settlement transaction).
 * Here a call is one `Pool.request` on kept-alive connections, and its time-out is the pool's.
 *
 * Invariants:
 *  - one pool per client, created once, with a bounded number of connections: a burst of
 *    settlements queues on those instead of opening a socket per call;
 *  - a JSON-RPC error answer rejects with viem's `RpcRequestError` (its `code` is what viem maps
 *    to its own error classes), a transport failure with `HttpRequestError`;
 *  - errors name the node by its origin only: an RPC URL often carries an API key in its path or
 *    query, and errors end up in logs;
 *  - `call` coalesces: the calls of one method made in the same turn of the event loop go as one
 *    batch (a settle-all signs and broadcasts dozens of transactions at once; one POST and one
 *    JSON parse for all cost a fraction of one each). Calls of different methods are never
 *    batched together, so a slow method (an estimate) cannot hold up another (a broadcast).
 */
import { Pool } from 'undici'
import { custom, HttpRequestError, RpcRequestError, type Transport } from 'viem'

/** One call of a batch: its result, or the node's error for it. */
export type RpcAnswer =
  | { readonly result: unknown }
  | { readonly error: { readonly code: number; readonly message: string } }

export type RpcPool = {
  /** A viem transport whose every request is one POST on the pool (no retries). */
  readonly transport: Transport
  /** Many calls in ONE JSON-RPC batch (one POST); answers in the order of `calls`. */
  batch(calls: readonly { method: string; params: readonly unknown[] }[]): Promise<RpcAnswer[]>
  /**
   * One call, batched with the other calls of `method` made in this turn of the event loop (a lone
   * call is sent alone). Resolves with its result; rejects with `RpcRequestError` for the node's
   * error answer, `HttpRequestError` when the request failed.
   */
  call(method: string, params: readonly unknown[]): Promise<unknown>
  close(): Promise<void>
}

type RpcReply = {
  readonly id?: unknown
  readonly result?: unknown
  readonly error?: { readonly code: number; readonly message: string; readonly data?: unknown }
}

export function createRpcPool(options: {
  readonly url: string
  /** Bound on each call, headers and body alike, in ms. */
  readonly timeoutMs: number
  /** Most connections to the node at once (default 8). */
  readonly connections?: number
}): RpcPool {
  const url = new URL(options.url)
  const path = `${url.pathname}${url.search}`
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (url.username || url.password) {
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`
  }
  const shown = url.origin
  const pool = new Pool(url.origin, {
    connections: options.connections ?? 8,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    keepAliveTimeout: 10_000,
  })
  let nextId = 0

  const post = async (body: unknown): Promise<unknown> => {
    let text: string
    let status: number
    try {
      const response = await pool.request({
        path,
        method: 'POST',
        headers,
        body: JSON.stringify(body),
      })
      status = response.statusCode
      text = await response.body.text()
    } catch (cause) {
      throw new HttpRequestError({ url: shown, cause: cause as Error })
    }
    if (status !== 200) {
      throw new HttpRequestError({ url: shown, status, details: text.slice(0, 200) })
    }
    try {
      return JSON.parse(text) as unknown
    } catch (cause) {
      throw new HttpRequestError({ url: shown, status, cause: cause as Error })
    }
  }

  const request = async ({ method, params }: { method: string; params?: unknown }) => {
    const body = { jsonrpc: '2.0', id: (nextId += 1), method, params: params ?? [] }
    const reply = (await post(body)) as RpcReply
    if (reply.error) throw new RpcRequestError({ body, error: reply.error, url: shown })
    return reply.result
  }

  const batch = async (
    calls: readonly { method: string; params: readonly unknown[] }[],
  ): Promise<RpcAnswer[]> => {
    if (calls.length === 0) return []
    const first = nextId + 1
    nextId += calls.length
    const body = calls.map((call, i) => ({
      jsonrpc: '2.0',
      id: first + i,
      method: call.method,
      params: call.params,
    }))
    const replies = await post(body)
    if (!Array.isArray(replies)) {
      // A node that refuses batches answers with one error object.
      const error = (replies as RpcReply).error ?? { code: -32603, message: 'not a batch answer' }
      throw new RpcRequestError({ body, error, url: shown })
    }
    // Answers of a batch may come in any order: match them by id.
    const byId = new Map((replies as RpcReply[]).map((reply) => [reply.id, reply]))
    return body.map(({ id }): RpcAnswer => {
      const reply = byId.get(id)
      if (!reply) return { error: { code: -32603, message: 'no answer in the batch' } }
      return reply.error ? { error: reply.error } : { result: reply.result }
    })
  }

  type Queued = {
    readonly params: readonly unknown[]
    readonly resolve: (result: unknown) => void
    readonly reject: (error: unknown) => void
  }
  /** Calls waiting for the end of this turn, by method. */
  const queues = new Map<string, Queued[]>()
  const flush = (method: string) => {
    const queued = queues.get(method) ?? []
    queues.delete(method)
    if (queued.length === 1) {
      const only = queued[0] as Queued
      request({ method, params: only.params }).then(only.resolve, only.reject)
      return
    }
    // Providers cap batch sizes; 100 is within the common caps (the receipt poller's too).
    for (let i = 0; i < queued.length; i += 100) {
      const chunk = queued.slice(i, i + 100)
      batch(chunk.map(({ params }) => ({ method, params }))).then(
        (answers) =>
          answers.forEach((answer, k) => {
            const one = chunk[k] as Queued
            if ('result' in answer) return one.resolve(answer.result)
            const body = { jsonrpc: '2.0', method, params: one.params }
            one.reject(new RpcRequestError({ body, error: answer.error, url: shown }))
          }),
        (error: unknown) => chunk.forEach((one) => one.reject(error)),
      )
    }
  }

  return {
    transport: custom({ request }, { retryCount: 0 }),
    batch,
    call: (method, params) =>
      new Promise((resolve, reject) => {
        let queued = queues.get(method)
        if (!queued) {
          queued = []
          queues.set(method, queued)
          setImmediate(flush, method)
        }
        queued.push({ params, resolve, reject })
      }),
    close: () => pool.close(),
  }
}
