/**
 * The connection to Redis shared by the ledger and the settlement store: ioredis options chosen
 * for money, connection logging, the one way the URL may appear in a log, and reading a
 * pipeline's replies.
 *
 * Why these options:
 *  - `enableOfflineQueue: false`: while disconnected a command fails at once (→
 *    `ledger-unavailable`) instead of waiting in a queue, so a request is never held open on a dead
 *    ledger and never runs minutes later against a state it did not see.
 *  - `maxRetriesPerRequest: 0` and `autoResendUnfulfilledCommands: false`: a command written to a
 *    connection that then dropped may already have run. Sending it again could charge twice, so
 *    it fails instead; the caller answers 503 and the payer's retry is judged afresh by the ledger.
 *  - `commandTimeout`: a hung Redis fails calls after a bounded time rather than never.
 *  - reconnection with capped exponential backoff and jitter, forever: the ledger recovers on its
 *    own when Redis returns, without restarting the gateway.
 *  - `reconnectOnError` on READONLY: after a failover the old primary answers READONLY; a new
 *    connection (through the same DNS name) reaches the new one. The failed command is not resent.
 *
 * `redis://` and `rediss://` (TLS) URLs are accepted with credentials (`redis://:password@host`,
 * `redis://user:password@host/db`); `tls` adds options such as a private CA. The URL is never
 * logged: `redactRedisUrl` is what a log may show.
 */
import type { ConnectionOptions } from 'node:tls'
import { Redis, type ChainableCommander, type RedisOptions } from 'ioredis'

/** The part of a logger the ledger needs. */
export type LedgerLogger = { warn(obj: object, msg: string): void }

export type RedisConnectionOptions = {
  readonly url: string
  readonly logger?: LedgerLogger | undefined
  /** Bound on every command, in ms (default 2000). */
  readonly commandTimeoutMs?: number | undefined
  /** Bound on establishing a connection, in ms (default 2000). */
  readonly connectTimeoutMs?: number | undefined
  /** TLS options (a private CA, a client certificate); TLS itself is switched on by `rediss://`. */
  readonly tls?: ConnectionOptions | undefined
}

/** The URL with its credentials masked: `redis://***@host:6379/0`. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url)
    const auth = parsed.username !== '' || parsed.password !== '' ? '***@' : ''
    const path = parsed.pathname === '/' ? '' : parsed.pathname
    return `${parsed.protocol}//${auth}${parsed.host}${path}`
  } catch {
    return '(unparseable Redis URL)'
  }
}

/** Delay before reconnection attempt `times` (1, 2, …): 100 ms doubling to 1 s, ±20 %. */
export function reconnectDelay(times: number): number {
  const base = Math.min(100 * 2 ** Math.min(times - 1, 10), 1_000)
  return Math.round(base * (0.8 + Math.random() * 0.4))
}

/** Creates an ioredis client for the ledger; it connects on `connect()`. */
export function createRedisClient(options: RedisConnectionOptions): Redis {
  const scheme = /^(rediss?):\/\//i.exec(options.url)?.[1]?.toLowerCase()
  if (scheme === undefined) {
    throw new TypeError(
      `ledger: Redis URL must be redis:// or rediss:// (${redactRedisUrl(options.url)})`,
    )
  }
  const redisOptions: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableReadyCheck: true,
    connectTimeout: options.connectTimeoutMs ?? 2_000,
    commandTimeout: options.commandTimeoutMs ?? 2_000,
    retryStrategy: reconnectDelay,
    reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 1 : false),
    connectionName: 'mpp-gateway-ledger',
  }
  if (scheme === 'rediss') redisOptions.tls = { ...options.tls }
  const client = new Redis(options.url, redisOptions)
  watchConnection(client, options)
  return client
}

/**
 * Logs the first error of each outage (not every reconnection attempt) and the recovery, with
 * the redacted target only. Also keeps ioredis from printing unhandled `error` events.
 */
function watchConnection(client: Redis, options: RedisConnectionOptions): void {
  const target = redactRedisUrl(options.url)
  let down = false
  const failed = (error: unknown) => {
    if (down) return
    down = true
    const err = error instanceof Error ? { name: error.name, message: error.message } : {}
    options.logger?.warn({ target, err }, 'ledger: Redis connection lost; reconnecting')
  }
  client.on('error', failed)
  client.on('reconnecting', () => failed(undefined))
  client.on('ready', () => {
    if (!down) return
    down = false
    options.logger?.warn({ target }, 'ledger: Redis connection restored')
  })
}

/**
 * The replies of a pipeline, in order; rejects with the first command's failure (ioredis resolves
 * `exec()` with per-command errors, which a caller must not mistake for replies).
 */
export async function pipelineReplies(pipeline: ChainableCommander): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? []
  return results.map(([error, value]) => {
    if (error) throw error
    return value
  })
}
