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
 *
 * The same options hold for a Redis Cluster (every node connection; `createCluster` has what a
 * cluster adds) and for a primary found through Sentinel (ioredis asks the Sentinels again after a
 * failover).
 */
import type { ConnectionOptions } from 'node:tls'
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'

/** The part of a logger the ledger needs. */
export type LedgerLogger = { warn(obj: object, msg: string): void }

/** A connection to one Redis (a URL, or whichever primary the Sentinels name) or to a Cluster. */
export type RedisClient = Redis | Cluster

/**
 * Where the ledger lives — exactly one of:
 *  - `url`: one server, `redis://[user:password@]host:port[/db]` or `rediss://…`;
 *  - `cluster.nodes`: seed nodes of a Redis Cluster as `redis://` / `rediss://` URLs (the first
 *    one's credentials and scheme apply to every node; the rest of the topology is discovered);
 *  - `sentinel`: the Sentinels (`redis://[:password@]host:port`, their own credentials) watching
 *    the primary `name`, whose credentials are `username` / `password` (`tls` for `rediss`).
 */
export type RedisTarget =
  | { readonly url: string }
  | { readonly cluster: { readonly nodes: readonly string[] } }
  | {
      readonly sentinel: {
        readonly name: string
        readonly nodes: readonly string[]
        readonly username?: string | undefined
        readonly password?: string | undefined
        readonly tls?: boolean | undefined
      }
    }

export type RedisConnectionOptions = RedisTarget & {
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

/** What a log may show of a target: its redacted URLs and the Sentinel group's name. */
export function redactTarget(target: RedisTarget): string {
  if ('url' in target) return redactRedisUrl(target.url)
  if ('cluster' in target) return `cluster ${target.cluster.nodes.map(redactRedisUrl).join(',')}`
  const { name, nodes } = target.sentinel
  return `sentinel ${name}@${nodes.map(redactRedisUrl).join(',')}`
}

/** Delay before reconnection attempt `times` (1, 2, …): 100 ms doubling to 1 s, ±20 %. */
export function reconnectDelay(times: number): number {
  const base = Math.min(100 * 2 ** Math.min(times - 1, 10), 1_000)
  return Math.round(base * (0.8 + Math.random() * 0.4))
}

/** A parsed `redis://` / `rediss://` URL. */
type Endpoint = {
  readonly tls: boolean
  readonly host: string
  readonly port: number
  readonly username: string | undefined
  readonly password: string | undefined
}

function endpoint(url: string): Endpoint {
  const scheme = /^(rediss?):\/\//i.exec(url)?.[1]?.toLowerCase()
  if (scheme === undefined) {
    throw new TypeError(`ledger: Redis URL must be redis:// or rediss:// (${redactRedisUrl(url)})`)
  }
  const parsed = new URL(url)
  const text = (value: string) => (value === '' ? undefined : decodeURIComponent(value))
  return {
    tls: scheme === 'rediss',
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    username: text(parsed.username),
    password: text(parsed.password),
  }
}

/** The options every connection of the ledger shares (see the module header for why). */
function moneyOptions(options: RedisConnectionOptions): RedisOptions {
  return {
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
}

/**
 * A Cluster client. Besides the options of every connection:
 *  - `retryDelayOnFailover: 0`: ioredis would otherwise send a command again when its node's
 *    connection closed — after it may have run (see the module header);
 *  - MOVED, ASK, TRYAGAIN and CLUSTERDOWN are still followed or retried: each proves the command
 *    did not run on the node that answered it;
 *  - the slot map is refreshed every second and whenever a node fails, so after a failover the
 *    promoted replica takes the slots' commands within about a second;
 *  - `scaleReads: 'master'`: a replica may lag, and a read decides money (e.g. `HGETALL` of a
 *    channel before a close), so every command goes to the primary of its slot.
 */
function createCluster(nodes: readonly string[], options: RedisConnectionOptions): Cluster {
  const seeds = nodes.map(endpoint)
  const first = seeds[0]
  if (first === undefined) throw new TypeError('ledger: a Redis Cluster needs a seed node')
  const redisOptions: RedisOptions = {
    ...moneyOptions(options),
    ...(first.username === undefined ? {} : { username: first.username }),
    ...(first.password === undefined ? {} : { password: first.password }),
    ...(first.tls ? { tls: { ...options.tls } } : {}),
  }
  const clusterOptions: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    enableReadyCheck: true,
    scaleReads: 'master',
    clusterRetryStrategy: reconnectDelay,
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    maxRedirections: 16,
    slotsRefreshInterval: 1_000,
    slotsRefreshTimeout: options.commandTimeoutMs ?? 2_000,
    redisOptions,
  }
  const cluster = new Cluster(
    seeds.map(({ host, port }) => ({ host, port })),
    clusterOptions,
  )
  cluster.on('node error', () => cluster.refreshSlotsCache())
  return cluster
}

/** A client for the primary a Sentinel group names; it follows failovers the Sentinels run. */
function createSentinelClient(
  sentinel: Extract<RedisTarget, { sentinel: unknown }>['sentinel'],
  options: RedisConnectionOptions,
): Redis {
  const sentinels = sentinel.nodes.map(endpoint)
  const first = sentinels[0]
  if (first === undefined) throw new TypeError('ledger: a Sentinel group needs a Sentinel')
  return new Redis({
    ...moneyOptions(options),
    name: sentinel.name,
    role: 'master',
    sentinels: sentinels.map(({ host, port }) => ({ host, port })),
    ...(first.username === undefined ? {} : { sentinelUsername: first.username }),
    ...(first.password === undefined ? {} : { sentinelPassword: first.password }),
    ...(first.tls ? { enableTLSForSentinelMode: true, sentinelTLS: { ...options.tls } } : {}),
    ...(sentinel.username === undefined ? {} : { username: sentinel.username }),
    ...(sentinel.password === undefined ? {} : { password: sentinel.password }),
    ...(sentinel.tls ? { tls: { ...options.tls } } : {}),
    sentinelRetryStrategy: reconnectDelay,
  })
}

/** Creates an ioredis client for the ledger; it connects on `connect()`. */
export function createRedisClient(options: RedisConnectionOptions): RedisClient {
  let client: RedisClient
  if ('cluster' in options) client = createCluster(options.cluster.nodes, options)
  else if ('sentinel' in options) client = createSentinelClient(options.sentinel, options)
  else {
    const { tls } = endpoint(options.url)
    const redisOptions = moneyOptions(options)
    if (tls) redisOptions.tls = { ...options.tls }
    client = new Redis(options.url, redisOptions)
  }
  watchConnection(client, options)
  return client
}

/** The primaries behind a client: every master of a Cluster, or the one connection. */
export function primariesOf(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client]
}

/**
 * Logs the first error of each outage (not every reconnection attempt) and the recovery, with
 * the redacted target only. Also keeps ioredis from printing unhandled `error` events.
 */
function watchConnection(client: RedisClient, options: RedisConnectionOptions): void {
  const target = redactTarget(options)
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
