/**
 * A whole gateway pipeline in this process, without a chain: the real gate, app, forwarder and
 * memory ledger (or a wrapper of it), one channel already open for a local payer key, and a
 * loopback upstream whose every answer the test scripts. Vouchers are really signed and really
 * verified; only the chain is absent (the channel's on-chain state never changes, so chain reads
 * are not needed). Starts in milliseconds: for suites that walk every exit path of a paid request.
 *
 * Routes: `/paid/:id` (on-success), `/always/:id` (always), `/free/:id`, `/shadow/:id` and
 * `/shadow-always/:id` (shadow mode); metered (priced from the answer, at most
 * `prices.metered`): `/rows/:id` (JSON `result.metadata.row_count`), `/bytes/:id` (per started
 * 100 bytes), `/counted/:id` (header `x-units`); `/both/:id` (session or one-shot charge) and
 * `/charge-only/:id`.
 */
import type { ServerType } from '@hono/node-server'
import { randomBytes } from 'node:crypto'
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Address, Hex } from 'viem'
import { zeroAddress } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { createApp } from '../../src/app.js'
import type { EscrowClient } from '../../src/chain/escrow.js'
import { createGate, type Gate } from '../../src/gate/gate.js'
import { createRetryGuard } from '../../src/gate/idempotency.js'
import { createUnresolvedCharges, type UnresolvedOutcome } from '../../src/gate/unresolved.js'
import { createHoldConfirms } from '../../src/gate/confirms.js'
import { countChallenges, createMetrics, type Metrics } from '../../src/http/metrics.js'
import { startServer } from '../../src/http/serve.js'
import { corsPolicy, type CorsSettings } from '../../src/http/cors.js'
import {
  createMemoryIdempotencyStore,
  type IdempotencyStore,
} from '../../src/ledger/idempotency.js'
import { createMemoryLedger } from '../../src/ledger/memory.js'
import type { Descriptor, LedgerPort } from '../../src/ledger/port.js'
import { createChallengeIssuer } from '../../src/pricing/challenges.js'
import { compileRoutes, type RouteSpec } from '../../src/pricing/route-table.js'
import type { Terms } from '../../src/pricing/terms.js'
import { challengeKey } from '../../src/protocol/challenge.js'
import { channelIdOf } from '../../src/session/channel-id.js'
import type { SessionContext } from '../../src/session/context.js'
import { createChannelTermsCheck } from '../../src/session/terms.js'
import { createVoucherVerifier } from '../../src/session/voucher-check.js'
import { unsettledTotal } from '../../src/settlement/exposure.js'
import { createUpstreamPools, type UpstreamSpec } from '../../src/upstream/pool.js'
import { proxyTrust } from '../../src/upstream/trusted-proxies.js'
import { memoryLogger, testChallengeSecret } from './gateway.js'
import { fetchChallenge, voucherSigner } from './vouchers.js'

/** What the scripted upstream does with one request. */
export type Scripted =
  | {
      readonly kind: 'answer'
      readonly status: number
      readonly body?: string
      readonly headers?: Readonly<Record<string, string>>
    }
  /** Answers 200 once `release` resolves (and reports the request's arrival first). */
  | { readonly kind: 'held'; readonly release: Promise<void> }
  /** Never answers; the connection ends when the test's upstream closes. */
  | { readonly kind: 'hang' }
  /** Destroys the connection before any head. */
  | { readonly kind: 'reset' }
  /** Sends a 200 head and part of a body, then waits for `finish` before ending it. */
  | { readonly kind: 'partial'; readonly finish: Promise<void> }
  /** Sends a 200 head, then one byte every `everyMs` until the connection closes. */
  | { readonly kind: 'trickle'; readonly everyMs: number }
  /**
   * Sends a 200 head (with `headers`, chunked unless they declare a length), then `chunks`; then
   * ends the body, or destroys the connection when `cut`. Waits for `after` before the last chunk.
   */
  | {
      readonly kind: 'stream'
      readonly chunks: readonly string[]
      readonly headers?: Readonly<Record<string, string>>
      readonly cut?: boolean
      readonly after?: Promise<void>
    }

export type InProcessGateway = {
  readonly url: string
  readonly gate: Gate
  readonly ledger: LedgerPort
  readonly metrics: Metrics
  readonly channelId: Hex
  /** The key of the channel's payer. */
  readonly payerKey: Hex
  readonly terms: Terms
  readonly lines: Record<string, unknown>[]
  /** Requests the upstream received (whole, body included), by path. */
  readonly seen: string[]
  /** The same requests with their headers and bodies. */
  readonly received: readonly Received[]
  /** Requests that reached the upstream at all, counted when their head arrived. */
  arrivals(): number
  /** The headers of each request the upstream received, in the same order as `seen`. */
  readonly heard: IncomingHttpHeaders[]
  /** The next upstream answers, in order; unscripted requests get 200 `{"ok":true}`. */
  script(...answers: Scripted[]): void
  /** Resolves when the upstream has received its next request. */
  nextArrival(): Promise<void>
  /** An `Authorization` value paying `path` (GET unless `method`) with a voucher of `cumulative`. */
  credential(path: string, cumulative: bigint, method?: string): Promise<string>
  /** Resolves on the next background resolution of an unknown commit. */
  nextResolution(): Promise<UnresolvedOutcome>
  stop(): Promise<void>
}

/** What the scripted upstream saw of one request. */
export type Received = {
  readonly method: string
  readonly url: string
  readonly rawHeaders: readonly string[]
  readonly body: string
}

export const prices = { paid: 1_000n, always: 700n, metered: 5_000n } as const

/** The metered routes' rules: base + perUnit × units, at most `prices.metered`. */
export const metering = {
  rows: { base: 100n, perUnit: 10n, bufferBytes: 1024 },
  bytes: { base: 0n, perUnit: 50n, per: 100, bufferBytes: 1024 },
  counted: { base: 0n, perUnit: 7n },
} as const

const route = (spec: Partial<RouteSpec> & Pick<RouteSpec, 'path' | 'price'>): RouteSpec => ({
  method: 'GET',
  upstream: 'up',
  unitType: 'request',
  description: undefined,
  charge: 'on-success',
  servedStatuses: ['2xx'],
  ...spec,
})

export async function startInProcessGateway(
  options: {
    /** Wraps the memory ledger (to make it fail on purpose). */
    wrapLedger?: (ledger: LedgerPort) => LedgerPort
    /** Another ledger than the memory one (a Redis ledger), the channel opened on it. */
    ledger?: LedgerPort
    /** How long served holds gather before they are confirmed (5 ms by default). */
    confirmDelayMs?: number
    reservationTtlMs?: number
    headersTimeoutMs?: number
    resolveMs?: number
    /** Overrides of the upstream's spec (connections, deadlines, injected headers). */
    upstream?: Partial<UpstreamSpec>
    /** `server.requestBodyTimeoutMs` and `server.bufferedBodyBytes`. */
    requestBody?: { timeoutMs: number; bufferBytes: number }
    trustedProxies?: readonly string[]
    /** The gateway's clock (default `Date.now`); a test may move it to pin durations. */
    now?: () => number
    /** `server.cors` (off by default). */
    cors?: CorsSettings
    /** `tempoCharge.modes` (both by default). */
    chargeModes?: readonly ('pull' | 'push')[]
    /** Where paid answers are kept for retries (default: in memory), and the bound of a copy. */
    idempotency?: IdempotencyStore
    idempotencyMaxBodyBytes?: number
  } = {},
): Promise<InProcessGateway> {
  const payerKey = generatePrivateKey()
  const payer = privateKeyToAccount(payerKey).address
  const recipient: Address = privateKeyToAccount(generatePrivateKey()).address
  const terms: Terms = {
    realm: 'in-process',
    chainId: 4217,
    escrow: '0x4d50500000000000000000000000000000000000',
    recipient,
    currency: '0x20c0000000000000000000000000000000000000',
    operator: zeroAddress,
    feeToken: '0x20c0000000000000000000000000000000000001',
    suggestedDeposit: 100_000n,
    minVoucherDelta: 0n,
    minDeposit: 0n,
    challengeTtlMs: 300_000,
    reservationTtlMs: options.reservationTtlMs ?? 30_000,
    ...(options.chargeModes ? { chargeModes: options.chargeModes } : {}),
  }
  const descriptor: Descriptor = {
    payer,
    payee: recipient,
    operator: zeroAddress,
    token: terms.currency,
    salt: `0x${randomBytes(32).toString('hex')}`,
    authorizedSigner: zeroAddress,
    expiringNonceHash: `0x${randomBytes(32).toString('hex')}`,
  }
  const channelId = channelIdOf({ descriptor, escrow: terms.escrow, chainId: terms.chainId })
  const memory = createMemoryLedger()
  await (options.ledger ?? memory).open(
    {
      channelId,
      chainId: terms.chainId,
      escrow: terms.escrow,
      descriptor,
      deposit: 1_000_000n,
      settled: 0n,
    },
    Date.now(),
  )
  const base = options.ledger ?? memory
  const ledger = options.wrapLedger ? options.wrapLedger(base) : base

  const upstream = await startScriptedUpstream()
  const { logger, lines } = memoryLogger()
  const now = options.now ?? (() => Date.now())
  const absent = (what: string) =>
    new Proxy({} as never, {
      get() {
        throw new Error(`${what} is not available in-process`)
      },
    })
  const session: SessionContext = {
    terms,
    channelTerms: createChannelTermsCheck(terms),
    ledger,
    escrow: absent('the chain') as EscrowClient,
    vouchers: createVoucherVerifier({ chainId: terms.chainId, escrow: terms.escrow }),
    chainState: {
      ensureFresh: async () => {},
      refresh: async () => ({ deposit: 1_000_000n, settled: 0n, closeRequestedAt: 0 }),
      touch: () => {},
      reachable: () => true,
    },
    settlement: absent('settlement'),
    now,
  }
  const routes = compileRoutes([
    route({ path: '/paid/:id', price: prices.paid }),
    route({ path: '/always/:id', price: prices.always, charge: 'always' }),
    route({ path: '/free/:id', price: undefined }),
    route({ method: 'POST', path: '/upload/:id', price: undefined }),
    route({ method: 'POST', path: '/buy/:id', price: prices.paid }),
    // An upstream that takes the client's own Authorization: the payment comes in
    // Payment-Authorization.
    route({ path: '/pass/:id', price: prices.paid, credentialHeader: 'Payment-Authorization' }),
    route({ method: 'POST', path: '/submit', price: prices.paid }),
    route({ path: '/shadow/:id', price: prices.paid, shadow: true }),
    route({ path: '/shadow-always/:id', price: prices.always, charge: 'always', shadow: true }),
    route({
      path: '/rows/:id',
      price: prices.metered,
      metered: {
        ...metering.rows,
        units: { kind: 'json', path: ['result', 'metadata', 'row_count'] },
      },
    }),
    route({
      path: '/bytes/:id',
      price: prices.metered,
      metered: {
        base: metering.bytes.base,
        perUnit: metering.bytes.perUnit,
        bufferBytes: metering.bytes.bufferBytes,
        units: { kind: 'bytes', per: metering.bytes.per },
      },
    }),
    route({
      path: '/counted/:id',
      price: prices.metered,
      metered: {
        ...metering.counted,
        units: { kind: 'header', name: 'x-units' },
        bufferBytes: 1024,
      },
    }),
    // Paid by session or one-shot charge, and by charge alone.
    route({ path: '/both/:id', price: prices.paid, intents: ['session', 'charge'] }),
    route({ path: '/charge-only/:id', price: prices.paid, intents: ['charge'] }),
  ])
  const upstreams = createUpstreamPools([
    {
      name: 'up',
      baseUrl: upstream.url,
      headers: {},
      connectTimeoutMs: 1_000,
      headersTimeoutMs: options.headersTimeoutMs ?? 300,
      bodyTimeoutMs: 2_000,
      responseTimeoutMs: 10_000,
      queueTimeoutMs: 1_000,
      maxRequestBodyBytes: 1 << 20,
      connections: 16,
      ...options.upstream,
    },
  ])
  const requestBody = options.requestBody ?? { timeoutMs: 10_000, bufferBytes: 64 * 1024 }
  const metrics = createMetrics({
    processMetrics: false,
    exposure: () => unsettledTotal(ledger, memory.index, 1_000),
  })
  const resolutions: ((outcome: UnresolvedOutcome) => void)[] = []
  const unresolved = createUnresolvedCharges({
    ledger,
    logger,
    now,
    retryMs: 20,
    maxDelayMs: 100,
    onResolved: (outcome) => {
      metrics.unresolvedCharge(outcome)
      resolutions.shift()?.(outcome)
    },
  })
  const confirms = createHoldConfirms({
    ledger,
    logger,
    now,
    delayMs: options.confirmDelayMs ?? 5,
  })
  const gate = createGate({
    routes,
    challenges: countChallenges(
      createChallengeIssuer({
        terms,
        routes: routes.routes,
        keys: [challengeKey(testChallengeSecret)],
      }),
      metrics,
    ),
    session,
    ledger,
    unresolved,
    confirms,
    resolveMs: options.resolveMs ?? 150,
    maxHeaderBytes: 16 * 1024,
    maxBodyBytes: () => 1 << 20,
    payments: true,
    logger,
    now,
  })
  const app = createApp({
    enter: () => ({ generation: { gate, upstreams }, release() {} }),
    logger,
    accessLogger: logger,
    readiness: { check: async () => ({ status: 'ready', reasons: [] }) },
    metrics,
    metricsToken: undefined,
    limits: { reservedPrefix: '/__gateway' },
    requestBody,
    trustsPeer: proxyTrust(options.trustedProxies ?? []),
    retries: createRetryGuard({
      store: options.idempotency ?? createMemoryIdempotencyStore(),
      ttlMs: 60_000,
      credentialTtlMs: terms.challengeTtlMs,
      maxBodyBytes: options.idempotencyMaxBodyBytes ?? 4096,
      now,
    }),
    cors: options.cors
      ? corsPolicy(
          options.cors,
          routes.routes.map((r) => r.method),
        )
      : undefined,
    now,
  })
  const server: ServerType = await startServer({
    fetch: app.fetch,
    port: 0,
    hostname: '127.0.0.1',
    limits: {
      maxHeaderBytes: 16 * 1024,
      headersTimeoutMs: 10_000,
      requestBodyTimeoutMs: requestBody.timeoutMs,
    },
  })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    url,
    gate,
    ledger,
    metrics,
    channelId,
    payerKey,
    terms,
    lines,
    seen: upstream.seen,
    received: upstream.received,
    arrivals: upstream.arrivals,
    heard: upstream.heard,
    script: upstream.script,
    nextArrival: upstream.nextArrival,
    async credential(path, cumulative, method) {
      const signer = voucherSigner({
        payerKey,
        chainId: terms.chainId,
        escrow: terms.escrow,
        channelId,
        descriptor,
        challenge: await fetchChallenge(`${url}${path}`, method ? { method } : undefined),
      })
      return signer.credential(cumulative)
    },
    nextResolution: () => new Promise((resolve) => resolutions.push(resolve)),
    async stop() {
      await confirms.stop()
      unresolved.stop()
      await new Promise<void>((resolve) => {
        if ('closeAllConnections' in server) server.closeAllConnections()
        server.close(() => resolve())
      })
      await upstreams.close()
      await upstream.close()
    },
  }
}

type ScriptedUpstream = {
  readonly url: string
  readonly seen: string[]
  readonly received: Received[]
  arrivals(): number
  readonly heard: IncomingHttpHeaders[]
  script(...answers: Scripted[]): void
  nextArrival(): Promise<void>
  close(): Promise<void>
}

async function startScriptedUpstream(): Promise<ScriptedUpstream> {
  const seen: string[] = []
  const received: Received[] = []
  let arrived = 0
  const heard: IncomingHttpHeaders[] = []
  const queue: Scripted[] = []
  const arrivals: (() => void)[] = []
  const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
    seen.push(req.url ?? '')
    received.push({
      method: req.method ?? '',
      url: req.url ?? '',
      rawHeaders: req.rawHeaders,
      body,
    })
    heard.push(req.headers)
    arrivals.shift()?.()
    const next = queue.shift() ?? { kind: 'answer', status: 200 }
    const json = (status: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(body)
    }
    switch (next.kind) {
      case 'answer':
        return json(next.status, next.body ?? JSON.stringify({ status: next.status }), next.headers)
      case 'held':
        return void next.release.then(() => {
          if (!res.destroyed) json(200, '{"held":true}')
        })
      case 'hang':
        return
      case 'reset':
        return void req.socket.destroy()
      case 'partial':
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.write('part of the answer…')
        return void next.finish.then(() => res.end(' and the rest'))
      case 'stream': {
        res.writeHead(200, { 'content-type': 'application/json', ...next.headers })
        const last = next.chunks.length - 1
        next.chunks.slice(0, last).forEach((chunk) => res.write(chunk))
        return void (next.after ?? Promise.resolve()).then(() => {
          if (res.destroyed) return
          if (last >= 0) res.write(next.chunks[last])
          if (next.cut) req.socket.destroy()
          else res.end()
        })
      }
      case 'trickle': {
        res.writeHead(200, { 'content-type': 'text/plain' })
        const timer = setInterval(() => res.write('.'), next.everyMs)
        return void res.once('close', () => clearInterval(timer))
      }
    }
  }
  const server = createServer((req, res) => {
    arrived += 1
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    received,
    arrivals: () => arrived,
    heard,
    script: (...answers) => queue.push(...answers),
    nextArrival: () => new Promise((resolve) => arrivals.push(resolve)),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
