/**
 * Building and running one gateway process from a parsed configuration: the dependencies (ledger,
 * chain, upstream pools, challenge issuer, routes) are created here once, passed down explicitly,
 * and torn down in a fixed order at shutdown:
 *
 *   readiness → 503, stop accepting (the admin listener too) → drain in-flight requests (bounded;
 *   an admin request gets the same grace) → the settler finishes
 *   its round (settling everything first when `settlement.onShutdown`) → close upstream pools →
 *   close the settlement store and the ledger.
 */
import type { ServerType } from '@hono/node-server'
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import { createApp, type AppDeps } from './app.js'
import { openEscrow, submitContext } from './chain-clients.js'
import { openStorage, type Storage } from './storage.js'
import type { LedgerPort } from './ledger/port.js'
import { createMemoryIdempotencyStore } from './ledger/idempotency.js'
import { createMemoryRateLimiter } from './limits/memory.js'
import { corsPolicy } from './http/cors.js'
import { createMetrics } from './http/metrics.js'
import { createChainReachability } from './chain/reachability.js'
import type { Config } from './config/schema.js'
import { createReadiness } from './http/health.js'
import { startServer } from './http/serve.js'
import { createRetryGuard } from './gate/idempotency.js'
import { unsettledTotal } from './settlement/exposure.js'
import {
  createConfiguredSettler,
  createSettlementService,
  startSettlementService,
  type SettlementService,
} from './settlement/service.js'
import { createAdminOperations } from './admin/operations.js'
import { createAdminApp } from './http/admin.js'
import { createUnresolvedCharges, type UnresolvedCharges } from './gate/unresolved.js'
import { createHoldConfirms } from './gate/confirms.js'
import { createGenerations, type Generations } from './generations.js'
import { termsOf, type Terms } from './pricing/terms.js'
import { createChainStateCache } from './session/chain-state.js'
import { createChannelTermsCheck } from './session/terms.js'
import type { SessionContext } from './session/context.js'
import { createVoucherVerifier } from './session/voucher-check.js'
import { proxyTrust } from './upstream/trusted-proxies.js'

export { openStorage, type Storage } from './storage.js'

/** The parts of a running gateway that tests and operations look at. */
export type GatewayParts = AppDeps & {
  /** The configuration generations: the current one, and reloading (src/generations.ts). */
  readonly generations: Generations
  readonly ledger: LedgerPort
  readonly terms: Terms
  readonly unresolved: UnresolvedCharges
}

export type Gateway = {
  readonly url: string
  readonly port: number
  /** The admin API's listener, when `admin:` is configured. */
  readonly admin: { readonly url: string; readonly port: number } | undefined
  readonly deps: GatewayParts
  /** The settler and close watcher, when they run in this process. */
  readonly settlement: SettlementService | undefined
  /** Graceful stop, in the documented order. */
  stop(): Promise<void>
}

export type StartGatewayOptions = {
  config: Config
  logger: Logger
  /** Where access lines go (defaults to `logger`); see createLogger's `redact: false`. */
  accessLogger?: Logger
  /** Storage to use instead of the configured one (tests). */
  storage?: Storage
  now?: () => number
  /** Overrides `server.port` / `server.host` (tests bind port 0 on loopback). */
  port?: number
  host?: string
  /** Overrides `admin.port` (tests bind port 0). */
  adminPort?: number
  /** With payments off, every route is forwarded free (the plain-proxy reference). */
  payments?: boolean
  /**
   * Settlement's chain calls on a thread of their own (chain/escrow-thread.ts; default true).
   * False keeps them on the event loop: the same client and calls, without the thread's start-up
   * (about 1.5 s of CPU to load viem again) — for tests that start many gateways.
   */
  chainThread?: boolean
}

/** Most channel records one metrics scrape reads to sum the unsettled exposure. */
const exposureScanLimit = 10_000

/** Runs only the settler and the close watcher (`mpp-gateway settle`). */
export async function startSettlementOnly(options: {
  config: Config
  logger: Logger
  storage?: Storage
  now?: () => number
  /** As {@link StartGatewayOptions.chainThread}. */
  chainThread?: boolean
}): Promise<{ service: SettlementService; stop(): Promise<void> }> {
  const now = options.now ?? Date.now
  const storage =
    options.storage ?? (await openStorage({ config: options.config, logger: options.logger, now }))
  const { settlement: escrow } = openEscrow(
    options.config,
    options.logger,
    options.chainThread ?? true,
  )
  escrow.warm?.()
  const service = startSettlementService({
    config: options.config,
    ledger: storage.ledger,
    index: storage.index,
    store: storage.store,
    submit: submitContext({ config: options.config, escrow, storage, logger: options.logger, now }),
    owner: `settler-${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
    logger: options.logger,
    now,
  })
  options.logger.info({ chainId: options.config.chain.chainId }, 'settler running')
  return {
    service,
    async stop() {
      await service.stop()
      await storage.store.close()
      await storage.ledger.close()
      await escrow.close()
    },
  }
}

export async function startGateway(options: StartGatewayOptions): Promise<Gateway> {
  const { config, logger } = options
  const now = options.now ?? Date.now
  const { escrow, settlement: settlementEscrow } = openEscrow(
    config,
    logger,
    options.chainThread ?? true,
  )
  const storage = options.storage ?? (await openStorage({ config, logger, now }))
  const { ledger } = storage
  const owner = `gateway-${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`
  const metrics = createMetrics({
    // Bounded like `mpp-gateway channels`: a scrape reads at most this many channel records.
    exposure: () => unsettledTotal(ledger, storage.index, exposureScanLimit),
  })
  const submit = submitContext({
    config,
    escrow: settlementEscrow,
    storage,
    logger,
    now,
    metrics,
  })
  const terms = termsOf(config)
  const reachability = createChainReachability({
    timeoutMs: config.chain.readTimeoutMs,
    failureTtlMs: config.chain.readFailureTtlMs,
    probeRead: () => escrow.publicClient.getBlockNumber(),
    logger: logger.child({ component: 'chain' }),
    now,
  })
  const session: SessionContext = {
    terms,
    channelTerms: createChannelTermsCheck(terms),
    ledger,
    escrow,
    vouchers: createVoucherVerifier({ chainId: config.chain.chainId, escrow: config.chain.escrow }),
    chainState: createChainStateCache({
      escrow,
      ledger,
      reachability,
      ttlMs: config.chain.stateTtlMs,
      now,
    }),
    settlement: { submit, owner, lockTtlMs: config.settlement.lockTtlMs },
    now,
  }

  let stopping = false
  const readiness = createReadiness({
    stopping: () => stopping,
    pingLedger: () => ledger.ping(),
    ledgerTimeoutMs: 1_000,
    chainReachable: () => reachability.probe(),
  })

  // Built before the request path, which tells its settler of every charge (settler.ts `charged`);
  // started once the server listens.
  const settlement = config.settlement.enabled
    ? createSettlementService({
        config,
        ledger,
        index: storage.index,
        store: storage.store,
        submit,
        owner: `${owner}/settler`,
        logger,
        now,
      })
    : undefined
  const unresolved = createUnresolvedCharges({
    ledger,
    logger: logger.child({ component: 'charge' }),
    now,
    onResolved: (outcome) => metrics.unresolvedCharge(outcome),
  })
  const confirms = createHoldConfirms({
    ledger,
    logger: logger.child({ component: 'charge' }),
    now,
    // A confirmation is what makes a hold's value settleable: the settler hears of it then.
    onConfirmed: settlement
      ? (channelId, settleable) => settlement.settler.charged(channelId, settleable)
      : undefined,
  })
  const generations = createGenerations({
    config,
    deps: {
      session,
      ledger,
      onCharged: settlement
        ? (channelId, settleable) => settlement.settler.charged(channelId, settleable)
        : undefined,
      unresolved,
      confirms,
      limiter: storage.limiter ?? createMemoryRateLimiter(),
      metrics,
      logger,
      now,
      payments: options.payments ?? true,
    },
    logger,
  })
  const deps: GatewayParts = {
    enter: () => generations.enter(),
    generations,
    logger,
    accessLogger: options.accessLogger ?? logger,
    readiness,
    metrics,
    metricsToken: config.server.metricsToken,
    limits: { reservedPrefix: config.server.reservedPrefix },
    requestBody: {
      timeoutMs: config.server.requestBodyTimeoutMs,
      bufferBytes: config.server.bufferedBodyBytes,
    },
    trustsPeer: proxyTrust(config.server.trustedProxies),
    cors: config.server.cors
      ? corsPolicy(
          config.server.cors,
          config.routes.map((route) => route.method),
        )
      : undefined,
    now,
    ledger,
    terms,
    unresolved,
    retries: config.idempotency.enabled
      ? createRetryGuard({
          store: storage.idempotency ?? createMemoryIdempotencyStore(),
          ttlMs: config.idempotency.ttlSeconds * 1000,
          credentialTtlMs: terms.challengeTtlMs,
          maxBodyBytes: config.idempotency.maxBodyBytes,
          now,
        })
      : undefined,
  }
  const app = createApp(deps)

  let inflight = 0
  let drained: (() => void) | undefined
  const server: ServerType = await startServer({
    fetch: app.fetch,
    port: options.port ?? config.server.port,
    hostname: options.host ?? config.server.host,
    limits: config.server,
  })
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    inflight += 1
    res.once('close', () => {
      inflight -= 1
      if (inflight === 0) drained?.()
    })
  })
  settlement?.start()
  // The chain thread loads while the first requests are served, not at the first settlement.
  settlementEscrow.warm?.()
  const { port } = server.address() as AddressInfo
  const host = options.host ?? config.server.host
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
  let admin: Awaited<ReturnType<typeof startAdmin>> | undefined
  const stop = async () => {
    if (stopping) return
    stopping = true
    const adminClosed = admin?.close()
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    if ('closeIdleConnections' in server) server.closeIdleConnections()
    if (inflight > 0) {
      await Promise.race([
        new Promise<void>((resolve) => (drained = resolve)),
        new Promise<void>((resolve) =>
          setTimeout(resolve, config.server.shutdownGraceSeconds * 1000).unref(),
        ),
      ])
    }
    if ('closeAllConnections' in server) server.closeAllConnections()
    await closed
    await adminClosed
    // Served holds confirmed before the settler's last round, so it can settle them.
    await confirms.stop()
    await settlement?.stop()
    unresolved.stop()
    await generations.close()
    await storage.store.close()
    await ledger.close()
    await settlementEscrow.close()
    logger.info('gateway stopped')
  }

  if (config.admin) {
    try {
      admin = await startAdmin({
        config,
        settings: config.admin,
        port: options.adminPort ?? config.admin.port,
        operations: createAdminOperations({
          ledger,
          index: storage.index,
          store: storage.store,
          escrow,
          // Through the running settler, or one built for the purpose when this process runs
          // none: either way each settlement holds the channel's lock.
          settler:
            settlement?.settler ??
            createConfiguredSettler({
              config,
              ledger,
              index: storage.index,
              store: storage.store,
              submit,
              owner: `${owner}/admin`,
              logger,
              now,
            }),
          logger: logger.child({ component: 'admin' }),
          now,
        }),
        logger,
        now,
      })
    } catch (error) {
      // The admin address is taken (or refused): nothing of this gateway may keep running.
      await stop()
      throw error
    }
  }

  // Once every listener is up: a process manager may take this line for readiness.
  logger.info(
    { url, routes: generations.current().routes.routes.length, chainId: config.chain.chainId },
    'gateway listening',
  )
  return {
    url,
    port,
    admin: admin && { url: admin.url, port: admin.port },
    deps,
    settlement,
    stop,
  }
}

/**
 * Starts the admin API on its own listener. Its requests are few and short (a settlement waits
 * for its receipt), so it gets the payment port's header deadline and no body beyond a reason.
 */
async function startAdmin(options: {
  config: Config
  settings: NonNullable<Config['admin']>
  port: number
  operations: ReturnType<typeof createAdminOperations>
  logger: Logger
  now: () => number
}): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const app = createAdminApp({
    token: options.settings.token,
    operations: options.operations,
    logger: options.logger.child({ component: 'admin' }),
    now: options.now,
  })
  const server = await startServer({
    fetch: app.fetch,
    port: options.port,
    hostname: options.settings.host,
    limits: { ...options.config.server, requestBodyTimeoutMs: 10_000 },
  })
  const { port } = server.address() as AddressInfo
  const host = options.settings.host
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  const url = `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`
  options.logger.info({ url }, 'admin API listening')
  return {
    url,
    port,
    // Stop accepting; a request in flight (a settlement waiting for its receipt) gets the
    // shutdown grace, like the payment port's, before its connection is cut.
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      if ('closeIdleConnections' in server) server.closeIdleConnections()
      const grace = new Promise<void>((resolve) =>
        setTimeout(resolve, options.config.server.shutdownGraceSeconds * 1000).unref(),
      )
      await Promise.race([closed, grace])
      if ('closeAllConnections' in server) server.closeAllConnections()
      await closed
    },
  }
}
