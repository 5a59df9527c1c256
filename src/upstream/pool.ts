/**
 * The gateway's connections to its upstreams: one undici `Pool` per configured upstream, created
 * once at boot and closed once at shutdown.
 *
 * Invariants:
 * - Every upstream named in the config has exactly one pool for the process lifetime; requests
 *   never open ad-hoc connections. Connections are kept alive between requests and never
 *   pipelined (pipelining 1), so one slow answer never holds up another request's answer.
 * - At most `connections` exchanges run per upstream: each holds a slot from `slots`, taken
 *   before it is dispatched and given back when it ends. A request that finds every slot taken
 *   waits at most `queueTimeoutMs`, first come first served, and is then refused (503
 *   `upstream-busy`) — never left in undici's queue, which has no deadline.
 * - `baseUrl` is checked here, at boot: http(s), no credentials, no query, no fragment. Its path
 *   (without a trailing slash) becomes the prefix of every forwarded path.
 * - `close()` is graceful (in-flight requests finish, queued ones still run) and idempotent; after
 *   it, forwarding to any pool fails as 'upstream-unavailable'.
 */
import { Pool } from 'undici'

/** One upstream as the config describes it (already validated and frozen by the config loader). */
export type UpstreamSpec = {
  readonly name: string
  /** Origin plus an optional path prefix, e.g. `https://api.example.com/v1`. */
  readonly baseUrl: string
  /** Headers injected into every forwarded request (API keys from `${ENV}`); never logged. */
  readonly headers: Readonly<Record<string, string>>
  readonly connectTimeoutMs: number
  /** Longest wait from sending the request to the upstream's complete response head. */
  readonly headersTimeoutMs: number
  /** Longest silence between two chunks of the upstream's response body. */
  readonly bodyTimeoutMs: number
  /** Longest time from dispatch to the end of the upstream's response body. */
  readonly responseTimeoutMs: number
  /** Longest wait for a free connection when all of them are in use (0: no wait). */
  readonly queueTimeoutMs: number
  /** Largest request body forwarded, checked on Content-Length and on the streamed bytes. */
  readonly maxRequestBodyBytes: number
  /** Most sockets kept open to this upstream. */
  readonly connections: number
}

/** An upstream ready to forward to: its spec, its pool, and the path prefix from `baseUrl`. */
export type Upstream = {
  readonly spec: UpstreamSpec
  readonly pool: Pool
  /** `baseUrl`'s path without a trailing slash (`''` for a bare origin). */
  readonly basePath: string
  readonly slots: Slots
}

/** Gives a slot back; calling it again does nothing. */
export type Release = () => void

/** The `connections` slots of one upstream. */
export type Slots = {
  /**
   * A free slot, waiting up to `timeoutMs` for one: `busy` when none freed in time, `aborted`
   * when `signal` aborted first.
   */
  take(timeoutMs: number, signal?: AbortSignal): Promise<Release | 'busy' | 'aborted'>
  /** Slots in use and requests waiting for one. */
  usage(): { readonly inUse: number; readonly waiting: number }
}

/** All upstream pools of the process. */
export type UpstreamPools = {
  /** The upstream named `name`; throws if the config has no such upstream (a wiring bug). */
  get(name: string): Upstream
  /** Every upstream, in configuration order. */
  list(): readonly Upstream[]
  /** Closes every pool gracefully; resolves once all of them are closed. Idempotent. */
  close(): Promise<void>
}

/**
 * Creates one keep-alive pool per upstream. Throws on a malformed `baseUrl`, a duplicate name or
 * a limit that is not a positive integer (`maxRequestBodyBytes` may be 0: no body allowed;
 * `queueTimeoutMs` 0: no waiting), so that a bad config stops the boot.
 */
export function createUpstreamPools(
  upstreams: readonly UpstreamSpec[],
  options: {
    /**
     * Pools of a running configuration (a reload): an upstream whose spec is unchanged keeps its
     * pool, connections and slots; the caller closes the ones left out once they are idle.
     */
    reuse?: UpstreamPools
  } = {},
): UpstreamPools {
  const byName = new Map<string, Upstream>()
  const reusable = new Map(
    (options.reuse?.list() ?? []).map((u) => [JSON.stringify(u.spec), u] as const),
  )
  for (const spec of upstreams) {
    if (byName.has(spec.name)) throw new Error(`duplicate upstream name '${spec.name}'`)
    const same = reusable.get(JSON.stringify(spec))
    if (same) {
      byName.set(spec.name, same)
      continue
    }
    checkLimits(spec)
    const url = parseBaseUrl(spec)
    const pool = new Pool(url.origin, {
      connections: spec.connections,
      pipelining: 1,
      connect: { timeout: spec.connectTimeoutMs },
      headersTimeout: spec.headersTimeoutMs,
      bodyTimeout: spec.bodyTimeoutMs,
    })
    byName.set(spec.name, {
      spec,
      pool,
      basePath: url.pathname.replace(/\/+$/, ''),
      slots: createSlots(spec.connections),
    })
  }

  let closing: Promise<void> | undefined
  return {
    get(name) {
      const upstream = byName.get(name)
      if (upstream === undefined) throw new Error(`unknown upstream '${name}'`)
      return upstream
    },
    list: () => [...byName.values()],
    close() {
      closing ??= Promise.all([...byName.values()].map((u) => u.pool.close())).then(() => {})
      return closing
    },
  }
}

/** A counting semaphore with a FIFO of waiters, each with its own deadline. */
export function createSlots(size: number): Slots {
  let inUse = 0
  const waiting: (() => void)[] = []

  const release = (): Release => {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = waiting.shift()
      // The slot passes straight to the next waiter; `inUse` is unchanged.
      if (next) next()
      else inUse -= 1
    }
  }

  return {
    take(timeoutMs, signal) {
      if (signal?.aborted) return Promise.resolve('aborted')
      if (inUse < size) {
        inUse += 1
        return Promise.resolve(release())
      }
      if (timeoutMs <= 0) return Promise.resolve('busy')
      return new Promise((resolve) => {
        const granted = () => {
          done()
          resolve(release())
        }
        const give = (outcome: 'busy' | 'aborted') => {
          const at = waiting.indexOf(granted)
          if (at !== -1) waiting.splice(at, 1)
          done()
          resolve(outcome)
        }
        const onAbort = () => give('aborted')
        const timer = setTimeout(() => give('busy'), timeoutMs)
        const done = () => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
        }
        signal?.addEventListener('abort', onAbort, { once: true })
        waiting.push(granted)
      })
    },
    usage: () => ({ inUse, waiting: waiting.length }),
  }
}

function parseBaseUrl(spec: UpstreamSpec): URL {
  let url: URL
  try {
    url = new URL(spec.baseUrl)
  } catch (cause) {
    throw new Error(`upstream '${spec.name}': baseUrl is not a URL`, { cause })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`upstream '${spec.name}': baseUrl must be http or https`)
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error(`upstream '${spec.name}': baseUrl must not carry credentials; use headers`)
  }
  if (url.search !== '' || url.hash !== '') {
    throw new Error(`upstream '${spec.name}': baseUrl must not have a query or fragment`)
  }
  return url
}

function checkLimits(spec: UpstreamSpec): void {
  const limits = {
    connectTimeoutMs: spec.connectTimeoutMs,
    headersTimeoutMs: spec.headersTimeoutMs,
    bodyTimeoutMs: spec.bodyTimeoutMs,
    responseTimeoutMs: spec.responseTimeoutMs,
    queueTimeoutMs: spec.queueTimeoutMs,
    maxRequestBodyBytes: spec.maxRequestBodyBytes,
    connections: spec.connections,
  }
  for (const [key, value] of Object.entries(limits)) {
    const least = key === 'maxRequestBodyBytes' || key === 'queueTimeoutMs' ? 0 : 1
    if (!Number.isSafeInteger(value) || value < least) {
      throw new Error(`upstream '${spec.name}': ${key} must be an integer ≥ ${least}`)
    }
  }
}
