/**
 * Benchmark: ways of forwarding small JSON answers through a node:http gateway with undici.
 *
 * Three processes so the load generator does not share an event loop with what it measures:
 * an upstream (node:http, ~120-byte JSON), a gateway (node:http, one undici Pool per variant),
 * and this process driving N concurrent keep-alive requests with an undici Pool. Every variant
 * applies the same header hygiene (src/upstream/headers.ts); only the transport differs:
 *
 * - `stream`   undici `pool.stream`, the factory writes the head synchronously and returns `res`
 *              (cannot await a charge decision before the head: shown as a baseline)
 * - `request`  undici `pool.request`, then `pipeline(body, res)`
 * - `fetch`    undici `fetch` with the pool as dispatcher, body copied by a reader loop
 * - `forward`  src/upstream/forward.ts (undici `dispatch`, async `beforeHead`, outcome tracking)
 * - `direct`   no gateway: the load generator calls the upstream itself (the ceiling on this box)
 *
 * Besides req/s and latency, the gateway child reports its own CPU time per request: on a busy
 * box that figure is far steadier than req/s, which swings with whatever else is running.
 *
 * Variants run interleaved in rounds so drift (thermal, GC, JIT) spreads evenly. Bounded: each
 * measurement window is capped at 10 s, and so is the number of requests per window.
 *
 * Usage: npm run bench:forward -- [--concurrency=32] [--duration=3000] [--warmup=1000] [--rounds=2]
 */
import { fork, type ChildProcess } from 'node:child_process'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { fetch, Pool } from 'undici'
import { forward } from '../src/upstream/forward.js'
import { forwardRequestHeaders, responseHeaders } from '../src/upstream/headers.js'
import { createSlots, type Upstream, type UpstreamSpec } from '../src/upstream/pool.js'

const variants = ['stream', 'request', 'fetch', 'forward'] as const
type Variant = (typeof variants)[number]
/** A gateway variant, or `direct`: the client calling the upstream itself (the ceiling). */
type Target = Variant | 'direct'
const targets: readonly Target[] = [...variants, 'direct']

const maxWindowMs = 10_000
const maxRequestsPerWindow = 1_000_000

type Ready = { readonly port: number }
type Started = Ready & { readonly child: ChildProcess }

const role = process.argv[2]
if (role === 'upstream') await runUpstream()
else if (role === 'gateway') await runGateway(Number(process.argv[3]))
else await runMain()

async function runUpstream(): Promise<void> {
  const body = JSON.stringify({ id: 'item_123', price: '0.001', tags: ['a', 'b'], ok: true })
  const server = createServer((_req, res) => {
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    })
    res.end(body)
  })
  server.keepAliveTimeout = 60_000
  await listen(server)
}

async function runGateway(upstreamPort: number): Promise<void> {
  const spec = (name: string): UpstreamSpec => ({
    name,
    baseUrl: `http://127.0.0.1:${upstreamPort}`,
    headers: { 'X-Api-Key': 'bench-secret' },
    connectTimeoutMs: 5000,
    headersTimeoutMs: 10_000,
    bodyTimeoutMs: 10_000,
    responseTimeoutMs: 60_000,
    queueTimeoutMs: 5_000,
    maxRequestBodyBytes: 1024 * 1024,
    connections: 64,
  })
  const pools = new Map<Variant, Upstream>(
    variants.map((variant) => [
      variant,
      {
        spec: spec(variant),
        pool: new Pool(`http://127.0.0.1:${upstreamPort}`, {
          connections: 64,
          pipelining: 1,
          headersTimeout: 10_000,
          bodyTimeout: 10_000,
        }),
        basePath: '',
        slots: createSlots(64),
      },
    ]),
  )

  const upstreamHeaders = (req: IncomingMessage, upstream: Upstream): string[] =>
    forwardRequestHeaders({
      rawHeaders: req.rawHeaders,
      clientAddress: req.socket.remoteAddress,
      proto: 'http',
      inject: upstream.spec.headers,
    })

  const handlers: Record<
    Variant,
    (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>
  > = {
    async stream(req, res, path) {
      const upstream = pools.get('stream')!
      await upstream.pool.stream(
        { path, method: 'GET', headers: upstreamHeaders(req, upstream) },
        ({ statusCode, headers }) => {
          res.writeHead(statusCode, responseHeaders({ upstream: headers, extra: {} }))
          return res
        },
      )
    },
    async request(req, res, path) {
      const upstream = pools.get('request')!
      const answer = await upstream.pool.request({
        path,
        method: 'GET',
        headers: upstreamHeaders(req, upstream),
      })
      res.writeHead(answer.statusCode, responseHeaders({ upstream: answer.headers, extra: {} }))
      await pipeline(answer.body, res)
    },
    async fetch(req, res, path) {
      const upstream = pools.get('fetch')!
      const flat = upstreamHeaders(req, upstream)
      const pairs: [string, string][] = []
      for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!])
      const answer = await fetch(`http://127.0.0.1:${upstreamPort}${path}`, {
        headers: pairs,
        dispatcher: upstream.pool,
      })
      const headers: Record<string, string> = {}
      answer.headers.forEach((value, name) => (headers[name] = value))
      res.writeHead(answer.status, responseHeaders({ upstream: headers, extra: {} }))
      if (answer.body !== null) {
        for await (const chunk of answer.body) {
          if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve))
        }
      }
      res.end()
    },
    async forward(req, res, path) {
      const outcome = await forward({
        upstream: pools.get('forward')!,
        request: req,
        response: res,
        method: 'GET',
        path,
        signal: new AbortController().signal,
        beforeHead: () => Promise.resolve({ 'Payment-Receipt': 'bench' }),
      })
      if (outcome.kind === 'failed') throw outcome.error
    },
  }

  const server = createServer((req, res) => {
    const url = req.url ?? '/'
    const slash = url.indexOf('/', 1)
    const variant = url.slice(1, slash === -1 ? undefined : slash) as Variant
    const handler = handlers[variant]
    if (handler === undefined || slash === -1) {
      res.writeHead(404).end()
      return
    }
    handler(req, res, url.slice(slash)).catch((error: unknown) => {
      console.error(`gateway ${variant}:`, error)
      if (!res.headersSent) res.writeHead(502).end()
      else res.destroy()
    })
  })
  server.keepAliveTimeout = 60_000
  await listen(server)
}

async function listen(server: ReturnType<typeof createServer>): Promise<void> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const ready: Ready = { port: (server.address() as AddressInfo).port }
  process.send?.(ready)
  process.on('message', (message) => {
    if (message === 'cpu') process.send?.(process.cpuUsage())
  })
  process.on('disconnect', () => process.exit(0))
}

type Options = {
  readonly concurrency: number
  readonly durationMs: number
  readonly warmupMs: number
  readonly rounds: number
}

type Window = { readonly count: number; readonly errors: number; readonly elapsedMs: number }
type Total = { count: number; errors: number; elapsedMs: number; gatewayCpuMicros: number }

async function runMain(): Promise<void> {
  const options = parseOptions(process.argv.slice(2))
  const children: ChildProcess[] = []
  try {
    const upstream = await start(['upstream'], children)
    const gateway = await start(['gateway', String(upstream.port)], children)
    const client = new Pool(`http://127.0.0.1:${gateway.port}`, {
      connections: options.concurrency,
      pipelining: 1,
    })
    const direct = new Pool(`http://127.0.0.1:${upstream.port}`, {
      connections: options.concurrency,
      pipelining: 1,
    })
    console.log(
      `forwarding small JSON through a node:http gateway — ${options.concurrency} concurrent, ` +
        `${options.rounds} × ${options.durationMs} ms per variant (after ${options.warmupMs} ms warm-up)`,
    )

    const latencies = new Map<Target, number[]>(targets.map((t) => [t, []]))
    const totals = new Map<Target, Total>(
      targets.map((t) => [t, { count: 0, errors: 0, elapsedMs: 0, gatewayCpuMicros: 0 }]),
    )
    for (let round = 0; round < options.rounds; round++) {
      for (const target of targets) {
        const window = {
          client: target === 'direct' ? direct : client,
          path: target === 'direct' ? '/items/123?x=1' : `/${target}/items/123?x=1`,
          concurrency: options.concurrency,
        }
        await load({ ...window, ms: options.warmupMs })
        const into = latencies.get(target)!
        const before = await cpuOf(gateway.child)
        const result = await load({ ...window, ms: options.durationMs, latencies: into })
        const after = await cpuOf(gateway.child)
        const total = totals.get(target)!
        total.gatewayCpuMicros += after.user + after.system - before.user - before.system
        total.count += result.count
        total.errors += result.errors
        total.elapsedMs += result.elapsedMs
      }
    }
    await Promise.all([client.close(), direct.close()])

    const rows = targets.map((target) => {
      const total = totals.get(target)!
      const sorted = latencies.get(target)!.sort((a, b) => a - b)
      return {
        target,
        rps: total.count / (total.elapsedMs / 1000),
        p50: quantile(sorted, 0.5),
        p99: quantile(sorted, 0.99),
        errors: total.errors,
        count: total.count,
        gatewayCpu: target === 'direct' ? Number.NaN : total.gatewayCpuMicros / total.count,
      }
    })
    const base = rows.find((row) => row.target === 'forward')!.rps
    console.log('')
    console.log(
      'variant    req/s     p50 ms   p99 ms   vs forward   gateway CPU µs/req   requests   errors',
    )
    for (const row of rows) {
      console.log(
        [
          row.target.padEnd(8),
          row.rps.toFixed(0).padStart(7),
          row.p50.toFixed(2).padStart(8),
          row.p99.toFixed(2).padStart(8),
          `${(row.rps / base).toFixed(2)}×`.padStart(12),
          (Number.isNaN(row.gatewayCpu) ? '-' : row.gatewayCpu.toFixed(0)).padStart(20),
          String(row.count).padStart(10),
          String(row.errors).padStart(8),
        ].join(' '),
      )
    }
  } finally {
    for (const child of children) child.kill()
  }
}

type LoadOptions = {
  readonly client: Pool
  readonly path: string
  readonly concurrency: number
  readonly ms: number
  readonly latencies?: number[]
}

/** Runs `concurrency` request loops against one path for `ms` milliseconds. */
async function load(options: LoadOptions): Promise<Window> {
  const { client, path, latencies } = options
  const started = performance.now()
  const deadline = started + Math.min(options.ms, maxWindowMs)
  let count = 0
  let errors = 0
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline && count + errors < maxRequestsPerWindow) {
      const t0 = performance.now()
      try {
        const answer = await client.request({ path, method: 'GET' })
        await answer.body.dump()
        if (answer.statusCode !== 200) throw new Error(`status ${answer.statusCode}`)
        latencies?.push(performance.now() - t0)
        count++
      } catch {
        errors++
      }
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, worker))
  return { count, errors, elapsedMs: performance.now() - started }
}

function start(args: string[], children: ChildProcess[]): Promise<Started> {
  const child = fork(fileURLToPath(import.meta.url), args, { execArgv: process.execArgv })
  children.push(child)
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve({ ...(message as Ready), child }))
    child.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code}`)))
  })
}

/** The gateway process's CPU time so far (it answers the 'cpu' message). */
function cpuOf(child: ChildProcess): Promise<NodeJS.CpuUsage> {
  return new Promise((resolve) => {
    child.once('message', (message) => resolve(message as NodeJS.CpuUsage))
    child.send('cpu')
  })
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

function parseOptions(args: readonly string[]): Options {
  const value = (name: string, fallback: number, max: number): number => {
    const arg = args.find((a) => a.startsWith(`--${name}=`))
    const parsed = arg === undefined ? fallback : Number(arg.slice(name.length + 3))
    if (!Number.isInteger(parsed) || parsed < 1)
      throw new Error(`--${name} must be a positive integer`)
    return Math.min(parsed, max)
  }
  return {
    concurrency: value('concurrency', 32, 256),
    durationMs: value('duration', 3000, maxWindowMs),
    warmupMs: value('warmup', 1000, maxWindowMs),
    rounds: value('rounds', 2, 5),
  }
}
