import { randomBytes } from 'node:crypto'
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { Agent, request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { problemBody } from '../errors.js'
import { forward, type ForwardOutcome } from './forward.js'
import {
  createUpstreamPools,
  type Upstream,
  type UpstreamPools,
  type UpstreamSpec,
} from './pool.js'

/** What the upstream saw of one request. */
type Seen = {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: readonly string[]
  /** The whole request body, once it ended. */
  readonly body: Promise<Buffer>
  /** Resolves `true` if the exchange closed before the upstream's response finished. */
  readonly closedEarly: Promise<boolean>
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return (server.address() as AddressInfo).port
}

/** A loopback upstream that records every request and answers with `handler`. */
async function startUpstream(handler: Handler) {
  const seen: Seen[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    const body = new Promise<Buffer>((resolve) => {
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => resolve(Buffer.concat(chunks)))
    })
    const closedEarly = new Promise<boolean>((resolve) => {
      res.on('close', () => resolve(!res.writableFinished))
    })
    seen.push({
      method: req.method!,
      url: req.url!,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body,
      closedEarly,
    })
    handler(req, res)
  })
  const port = await listen(server)
  return { seen, baseUrl: `http://127.0.0.1:${port}` }
}

function pools(baseUrl: string, overrides: Partial<UpstreamSpec> = {}): Upstream {
  const created: UpstreamPools = createUpstreamPools([
    {
      name: 'api',
      baseUrl,
      headers: { 'X-Api-Key': 'operator-secret' },
      connectTimeoutMs: 2000,
      headersTimeoutMs: 5000,
      bodyTimeoutMs: 5000,
      responseTimeoutMs: 30_000,
      queueTimeoutMs: 5000,
      maxRequestBodyBytes: 16 * 1024 * 1024,
      connections: 4,
      ...overrides,
    },
  ])
  cleanups.push(async () => {
    for (const { pool } of [created.get('api')]) await pool.destroy()
  })
  return created.get('api')
}

type Call = {
  /** The upstream statuses `beforeHead` was called with, in order. */
  readonly beforeHead: number[]
  readonly outcome: Promise<ForwardOutcome | Error>
}

type GatewayOptions = {
  readonly beforeHead?: (status: number) => Promise<Record<string, string>>
  /** Aborts the `signal` passed to forward after this many milliseconds. */
  readonly abortAfterMs?: number
}

/** A loopback gateway whose only handler is `forward`, rendering `failed` as problem+json. */
async function startGateway(upstream: Upstream, options: GatewayOptions = {}) {
  const calls: Call[] = []
  const server = createServer((req, res) => {
    const statuses: number[] = []
    const controller = new AbortController()
    if (options.abortAfterMs !== undefined) {
      setTimeout(() => controller.abort(), options.abortAfterMs)
    }
    const outcome = forward({
      upstream,
      request: req,
      response: res,
      method: req.method!,
      path: req.url!,
      signal: controller.signal,
      beforeHead: async (status) => {
        statuses.push(status)
        return options.beforeHead
          ? options.beforeHead(status)
          : { 'Payment-Receipt': 'gateway-receipt' }
      },
    }).then(
      (result) => {
        if (result.kind === 'failed') {
          res.writeHead(result.error.status, {
            'content-type': 'application/problem+json',
            connection: 'close',
          })
          res.end(JSON.stringify(problemBody(result.error)))
          req.resume()
        }
        return result
      },
      (error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { connection: 'close' }).end()
        return error as Error
      },
    )
    calls.push({ beforeHead: statuses, outcome })
  })
  const port = await listen(server)
  const agent = new Agent({ connections: 4 })
  cleanups.push(async () => {
    if (!agent.destroyed) await agent.destroy()
  })
  return { calls, url: `http://127.0.0.1:${port}`, port, agent }
}

function nextTick(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

async function until<T>(probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await nextTick(5)
  }
}

/** `promise`, or a rejection if it takes longer than `ms` (the upstream must see aborts promptly). */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms)
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

function chunked(data: Buffer, size: number): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size)
    })(),
  )
}

describe('forward: bodies', () => {
  it('streams a large body both ways, chunked and with Content-Length', async () => {
    const up = await startUpstream((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      req.pipe(res)
    })
    const gw = await startGateway(pools(up.baseUrl))
    const payload = randomBytes(8 * 1024 * 1024 + 123)

    for (const body of [chunked(payload, 64 * 1024), payload]) {
      const res = await request(`${gw.url}/echo`, {
        method: 'POST',
        body,
        dispatcher: gw.agent,
      })
      const echoed = Buffer.from(await res.body.arrayBuffer())
      expect(res.statusCode).toBe(200)
      expect(res.headers['payment-receipt']).toBe('gateway-receipt')
      expect(echoed.length).toBe(payload.length)
      expect(echoed.equals(payload)).toBe(true)
    }

    expect(up.seen).toHaveLength(2)
    expect(up.seen[0]!.headers['transfer-encoding']).toBe('chunked')
    expect(up.seen[1]!.headers['content-length']).toBe(String(payload.length))
    for (const seen of up.seen) expect((await seen.body).equals(payload)).toBe(true)
    for (const call of gw.calls) {
      expect(await call.outcome).toEqual({
        kind: 'responded',
        status: 200,
        bytesOut: payload.length,
        completed: true,
      })
      expect(call.beforeHead).toEqual([200])
    }
  })

  it('appends the path and query to the base path', async () => {
    const up = await startUpstream((_req, res) => res.end('{}'))
    const gw = await startGateway(pools(`${up.baseUrl}/base/`))
    const res = await request(`${gw.url}/v1/items?q=a%20b&x=1`, { dispatcher: gw.agent })
    await res.body.text()
    expect(up.seen[0]!.url).toBe('/base/v1/items?q=a%20b&x=1')
  })

  it('relays HEAD and 204 answers without a body', async () => {
    const up = await startUpstream((req, res) => {
      if (req.url === '/empty') res.writeHead(204).end()
      else res.writeHead(200, { 'content-length': '42' }).end()
    })
    const gw = await startGateway(pools(up.baseUrl))
    const head = await request(`${gw.url}/thing`, { method: 'HEAD', dispatcher: gw.agent })
    expect(head.statusCode).toBe(200)
    expect(head.headers['content-length']).toBe('42')
    expect(await head.body.text()).toBe('')
    const empty = await request(`${gw.url}/empty`, { dispatcher: gw.agent })
    expect(empty.statusCode).toBe(204)
    expect(await empty.body.text()).toBe('')
    expect(await gw.calls[0]!.outcome).toMatchObject({ kind: 'responded', completed: true })
    expect(await gw.calls[1]!.outcome).toMatchObject({ kind: 'responded', status: 204 })
  })
})

describe('forward: header hygiene', () => {
  it('injects the upstream headers over the client ones and strips payment and hop-by-hop headers', async () => {
    const up = await startUpstream((_req, res) => res.end('ok'))
    const gw = await startGateway(pools(up.baseUrl))

    // node:http lets the client send hop-by-hop headers that undici would refuse to send.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: gw.port,
          path: '/h',
          method: 'GET',
          agent: false,
          headers: {
            Connection: 'keep-alive, X-Hop',
            'Keep-Alive': 'timeout=5',
            'X-Hop': 'must-not-pass',
            TE: 'trailers',
            Upgrade: 'h2c',
            'Proxy-Authorization': 'Basic eDp5',
            Expect: '100-continue',
            Authorization: 'Payment eyJjcmVkZW50aWFsIjp0cnVlfQ',
            'Payment-Session': 'session',
            'Payment-Session-Snapshot': 'snapshot',
            'Accept-Payment': 'tempo/session',
            'x-api-key': 'client-supplied-key',
            'X-Forwarded-For': '203.0.113.7',
            'X-Forwarded-Proto': 'gopher',
            'X-Kept': 'yes',
          },
        },
        (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode!))
        },
      )
      req.on('error', reject)
      req.end()
    })

    expect(status).toBe(200)
    const { rawHeaders, headers } = up.seen[0]!
    const names = rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
    for (const banned of [
      'x-hop',
      'keep-alive',
      'te',
      'upgrade',
      'proxy-authorization',
      'expect',
      'authorization',
      'payment-session',
      'payment-session-snapshot',
      'accept-payment',
    ]) {
      expect(names, banned).not.toContain(banned)
    }
    expect(names.filter((n) => n === 'x-api-key')).toHaveLength(1)
    expect(headers['x-api-key']).toBe('operator-secret')
    expect(headers['x-kept']).toBe('yes')
    // The client's own X-Forwarded-For is dropped: the gateway states what it saw.
    expect(headers['x-forwarded-for']).toBe('127.0.0.1')
    expect(headers['x-forwarded-proto']).toBe('http')
    expect(headers['x-forwarded-host']).toBe(`127.0.0.1:${gw.port}`)
    expect(headers.host).toBe(new URL(up.baseUrl).host)
  })

  it('passes a non-Payment Authorization through', async () => {
    const up = await startUpstream((_req, res) => res.end('ok'))
    const gw = await startGateway(pools(up.baseUrl))
    const res = await request(`${gw.url}/x`, {
      headers: { authorization: 'Bearer client-token' },
      dispatcher: gw.agent,
    })
    await res.body.text()
    expect(up.seen[0]!.headers.authorization).toBe('Bearer client-token')
  })

  it("removes the upstream's Payment-Receipt and Payment challenge and adds the gateway's headers", async () => {
    const up = await startUpstream((_req, res) => {
      // prettier-ignore
      res.writeHead(401, [
        'Payment-Receipt', 'forged-by-upstream',
        'WWW-Authenticate', 'Payment id="u", method="tempo"',
        'WWW-Authenticate', 'Bearer realm="api"',
        'Connection', 'X-Internal',
        'X-Internal', 'hop',
        'Set-Cookie', 'a=1',
        'Set-Cookie', 'b=2',
        'Cache-Control', 'public, max-age=600',
        'Content-Type', 'application/json',
      ])
      res.end('{"error":"nope"}')
    })
    const gw = await startGateway(pools(up.baseUrl), {
      beforeHead: async () => ({
        'Payment-Receipt': 'gateway-receipt',
        'Cache-Control': 'private',
      }),
    })
    const res = await request(`${gw.url}/x`, { dispatcher: gw.agent })
    expect(res.statusCode).toBe(401)
    expect(await res.body.text()).toBe('{"error":"nope"}')
    expect(res.headers['payment-receipt']).toBe('gateway-receipt')
    expect(res.headers['www-authenticate']).toBe('Bearer realm="api"')
    expect(res.headers['x-internal']).toBeUndefined()
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2'])
    expect(res.headers['cache-control']).toBe('private')
    expect(res.headers['content-type']).toBe('application/json')
    expect(gw.calls[0]!.beforeHead).toEqual([401])
  })
})

describe('forward: limits and upstream failures', () => {
  it('answers 413 for an oversized Content-Length without contacting the upstream', async () => {
    const up = await startUpstream((_req, res) => res.end('ok'))
    const gw = await startGateway(pools(up.baseUrl, { maxRequestBodyBytes: 1000 }))
    const res = await request(`${gw.url}/x`, {
      method: 'POST',
      body: Buffer.alloc(1001),
      dispatcher: gw.agent,
    })
    expect(res.statusCode).toBe(413)
    expect(await res.body.json()).toMatchObject({ code: 'body-too-large' })
    const outcome = await gw.calls[0]!.outcome
    expect(outcome).toMatchObject({ kind: 'failed', headSent: false })
    expect(outcome).toHaveProperty('error.code', 'body-too-large')
    expect(gw.calls[0]!.beforeHead).toEqual([])
    expect(up.seen).toHaveLength(0)
  })

  it('answers 413 when a chunked body grows past the limit, before the upstream answers', async () => {
    const up = await startUpstream((req, res) => {
      req.resume()
      req.on('end', () => res.end('consumed'))
    })
    const gw = await startGateway(pools(up.baseUrl, { maxRequestBodyBytes: 256 * 1024 }))
    const res = await request(`${gw.url}/x`, {
      method: 'POST',
      body: chunked(Buffer.alloc(1024 * 1024), 16 * 1024),
      dispatcher: gw.agent,
    })
    expect(res.statusCode).toBe(413)
    expect(await res.body.json()).toMatchObject({ code: 'body-too-large' })
    expect(await gw.calls[0]!.outcome).toMatchObject({ kind: 'failed', headSent: false })
    expect(gw.calls[0]!.beforeHead).toEqual([])
    // The upstream was streamed to, and its request was cut before the end of the body.
    expect(await up.seen[0]!.closedEarly).toBe(true)
  })

  it('fails with upstream-timeout when the head does not come in time, never calling beforeHead', async () => {
    const up = await startUpstream(() => {})
    const gw = await startGateway(pools(up.baseUrl, { headersTimeoutMs: 200 }))
    const started = Date.now()
    const res = await request(`${gw.url}/slow`, { dispatcher: gw.agent })
    expect(res.statusCode).toBe(504)
    expect(await res.body.json()).toMatchObject({ code: 'upstream-timeout', status: 504 })
    expect(Date.now() - started).toBeGreaterThanOrEqual(190)
    const outcome = await gw.calls[0]!.outcome
    expect(outcome).toMatchObject({ kind: 'failed', headSent: false })
    expect(outcome).toHaveProperty('error.code', 'upstream-timeout')
    expect(gw.calls[0]!.beforeHead).toEqual([])
    expect(await up.seen[0]!.closedEarly).toBe(true)
  })

  it('fails with upstream-unavailable when the connection is refused', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const { port } = closed.address() as AddressInfo
    await new Promise((resolve) => closed.close(resolve))

    const gw = await startGateway(pools(`http://127.0.0.1:${port}`))
    const res = await request(`${gw.url}/x`, { dispatcher: gw.agent })
    expect(res.statusCode).toBe(502)
    expect(await res.body.json()).toMatchObject({ code: 'upstream-unavailable' })
    const outcome = await gw.calls[0]!.outcome
    expect(outcome).toHaveProperty('error.code', 'upstream-unavailable')
    expect(outcome).toHaveProperty('error.cause.code', 'ECONNREFUSED')
    expect(gw.calls[0]!.beforeHead).toEqual([])
  })

  it('fails with upstream-unavailable when the upstream resets before its head', async () => {
    const up = await startUpstream((req) => req.socket.destroy())
    const gw = await startGateway(pools(up.baseUrl))
    const res = await request(`${gw.url}/x`, { dispatcher: gw.agent })
    expect(res.statusCode).toBe(502)
    await res.body.text()
    expect(gw.calls[0]!.beforeHead).toEqual([])
  })

  it('cuts the client connection when the upstream dies mid-body', async () => {
    const up = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-length': '100000' })
      res.write(Buffer.alloc(1000), () => setTimeout(() => res.socket?.destroy(), 20))
    })
    const gw = await startGateway(pools(up.baseUrl))
    const res = await request(`${gw.url}/x`, { dispatcher: gw.agent })
    expect(res.statusCode).toBe(200)
    await expect(res.body.arrayBuffer()).rejects.toThrow()
    const outcome = await gw.calls[0]!.outcome
    expect(outcome).toMatchObject({ kind: 'responded', status: 200, completed: false })
    expect(outcome).toHaveProperty('error.code', 'upstream-unavailable')
    expect(gw.calls[0]!.beforeHead).toEqual([200])
  })

  it.each([
    ['rejects', () => Promise.reject(new Error('ledger down'))],
    [
      'throws',
      () => {
        throw new Error('ledger down')
      },
    ],
  ] as const)(
    'rejects when beforeHead %s, aborting the upstream and writing nothing',
    async (_, hook) => {
      const up = await startUpstream((_req, res) => {
        res.writeHead(200)
        res.write('partial')
      })
      const gw = await startGateway(pools(up.baseUrl), { beforeHead: hook })
      const res = await request(`${gw.url}/x`, { dispatcher: gw.agent })
      expect(res.statusCode).toBe(500)
      await res.body.text()
      const outcome = await gw.calls[0]!.outcome
      expect(outcome).toBeInstanceOf(Error)
      expect((outcome as Error).message).toBe('ledger down')
      expect(await within(up.seen[0]!.closedEarly, 1000)).toBe(true)
    },
  )
})

describe('forward: arguments', () => {
  it('rejects a path that is not in origin form, before touching anything', async () => {
    const upstream = pools('http://127.0.0.1:9')
    await expect(
      forward({
        upstream,
        request: {} as IncomingMessage,
        response: {} as ServerResponse,
        method: 'GET',
        path: 'http://elsewhere.example/',
        signal: new AbortController().signal,
        beforeHead: () => Promise.resolve({}),
      }),
    ).rejects.toThrow(TypeError)
  })
})

describe('forward: client abort', () => {
  it('aborts the upstream request when the client leaves mid-response', async () => {
    const up = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('first chunk')
    })
    const gw = await startGateway(pools(up.baseUrl))
    const res = await request(`${gw.url}/stream`, { dispatcher: gw.agent })
    expect(res.statusCode).toBe(200)
    const first = await new Promise<Buffer>((resolve) => res.body.once('data', resolve))
    expect(first.toString()).toBe('first chunk')
    res.body.destroy()

    expect(await within(up.seen[0]!.closedEarly, 1000)).toBe(true)
    expect(await gw.calls[0]!.outcome).toEqual({
      kind: 'aborted',
      headSent: true,
      upstreamStatus: 200,
      bytesOut: 'first chunk'.length,
    })
    expect(gw.calls[0]!.beforeHead).toEqual([200])
  })

  it('never calls beforeHead when the client leaves before the upstream answered', async () => {
    const up = await startUpstream(() => {})
    const gw = await startGateway(pools(up.baseUrl))
    const controller = new AbortController()
    const pending = request(`${gw.url}/slow`, { dispatcher: gw.agent, signal: controller.signal })
    await until(() => (up.seen.length > 0 ? true : undefined))
    controller.abort()
    await expect(pending).rejects.toThrow()

    expect(await within(up.seen[0]!.closedEarly, 1000)).toBe(true)
    expect(await gw.calls[0]!.outcome).toEqual({
      kind: 'aborted',
      headSent: false,
      upstreamStatus: undefined,
      bytesOut: 0,
    })
    expect(gw.calls[0]!.beforeHead).toEqual([])
  })

  it('settles at once when the client leaves while the request waits for a free socket', async () => {
    const up = await startUpstream((req, res) => {
      if (req.url === '/hold') return
      res.end('ok')
    })
    const gw = await startGateway(pools(up.baseUrl, { connections: 1 }))
    const holding = request(`${gw.url}/hold`, { dispatcher: gw.agent }).catch(() => undefined)
    await until(() => (up.seen.length > 0 ? true : undefined))
    const controller = new AbortController()
    const queued = request(`${gw.url}/queued`, { dispatcher: gw.agent, signal: controller.signal })
    const { outcome } = await until(() => gw.calls[1])
    controller.abort()
    await expect(queued).rejects.toThrow()
    expect(await within(outcome, 1000)).toEqual({
      kind: 'aborted',
      headSent: false,
      upstreamStatus: undefined,
      bytesOut: 0,
    })
    expect(gw.calls[1]!.beforeHead).toEqual([])
    await gw.agent.destroy()
    await holding
    // The queued request was dropped when its turn came: the upstream never saw it.
    await nextTick(50)
    expect(up.seen.map((s) => s.url)).toEqual(['/hold'])
  })

  it('aborts the upstream request when the signal aborts', async () => {
    const up = await startUpstream(() => {})
    const gw = await startGateway(pools(up.baseUrl), { abortAfterMs: 100 })
    const pending = request(`${gw.url}/slow`, { dispatcher: gw.agent })
    const { outcome } = await until(() => gw.calls[0])
    expect(await outcome).toMatchObject({ kind: 'aborted', headSent: false })
    expect(await within(up.seen[0]!.closedEarly, 1000)).toBe(true)
    expect(gw.calls[0]!.beforeHead).toEqual([])
    // The test gateway writes nothing on 'aborted'; end the client side ourselves.
    await gw.agent.destroy()
    await expect(pending).rejects.toThrow()
  })

  it('reports a client that left while beforeHead ran, with the status it was called with', async () => {
    const up = await startUpstream((_req, res) => res.end('ok'))
    let release: () => void = () => {}
    const decided = new Promise<void>((resolve) => (release = resolve))
    let entered: () => void = () => {}
    const deciding = new Promise<void>((resolve) => (entered = resolve))
    const gw = await startGateway(pools(up.baseUrl), {
      beforeHead: async () => {
        entered()
        await decided
        return {}
      },
    })
    const controller = new AbortController()
    const pending = request(`${gw.url}/x`, { dispatcher: gw.agent, signal: controller.signal })
    await deciding
    controller.abort()
    await expect(pending).rejects.toThrow()
    await nextTick(50)
    release()
    expect(await gw.calls[0]!.outcome).toEqual({
      kind: 'aborted',
      headSent: false,
      upstreamStatus: 200,
      bytesOut: 0,
    })
  })
})
