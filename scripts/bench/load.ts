/**
 * The load generator: `workers` request loops over one undici Pool with as many keep-alive
 * connections, each sending its next request as soon as its previous answer is fully read.
 *
 * Invariants:
 * - A window is bounded twice: by wall time (`durationMs`, capped at {@link maxWindowMs}) and by
 *   request count (`maxRequests`). Requests in flight at the deadline finish and count; the
 *   elapsed time runs until the last of them is done, so req/s is never inflated.
 * - Request material is produced before the window (see `Traffic.prepare` in traffic.ts); a
 *   worker only takes the next ready request. When a worker's supply runs out it stops, and the
 *   window says so (`stoppedBy: 'supply'`): its figures then describe fewer connections than
 *   asked for. A window that ends on its count bound says `count`; a normal one says `time`.
 * - Only answers with the expected status count and are timed; anything else is an error, and
 *   the first few are kept (status and the start of the body) so a broken row explains itself.
 */
import { Pool } from 'undici'

/** The longest a measurement window may last, whatever the options say. */
export const maxWindowMs = 10_000

/** One request as the load generator sends it. */
export type LoadRequest = {
  readonly path: string
  readonly method?: 'GET' | 'POST'
  readonly headers?: Readonly<Record<string, string>>
}

/** What a window measured. Latencies are milliseconds, sorted ascending. */
export type WindowResult = {
  readonly count: number
  readonly errors: number
  readonly elapsedMs: number
  /** What ended the window: the deadline, the request bound, or a worker's supply. */
  readonly stoppedBy: 'time' | 'count' | 'supply'
  readonly latenciesMs: Float64Array
  readonly errorSamples: readonly string[]
}

export type WindowOptions = {
  readonly pool: Pool
  readonly workers: number
  readonly durationMs: number
  /** Upper bound on requests sent in this window, across all workers. */
  readonly maxRequests: number
  /** The next request of a worker, or `undefined` once its supply is used up. */
  readonly next: (worker: number) => LoadRequest | undefined
  readonly expectStatus: number
}

const maxErrorSamples = 3

/** Opens a keep-alive pool of `connections` sockets to `origin` (no pipelining). */
export function openPool(origin: string, connections: number): Pool {
  return new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 30_000 })
}

/** Runs one bounded window of load and returns its counts and sorted latencies. */
export async function runWindow(options: WindowOptions): Promise<WindowResult> {
  const { pool, next, expectStatus } = options
  const latencies = new Float64Array(options.maxRequests)
  const errorSamples: string[] = []
  let issued = 0
  let count = 0
  let errors = 0
  let stoppedBy: WindowResult['stoppedBy'] = 'time'
  const started = performance.now()
  const deadline = started + Math.min(options.durationMs, maxWindowMs)

  const fail = (sample: string) => {
    errors += 1
    if (errorSamples.length < maxErrorSamples) errorSamples.push(sample)
  }
  const worker = async (index: number): Promise<void> => {
    while (performance.now() < deadline) {
      if (issued >= options.maxRequests) {
        stoppedBy = 'count'
        return
      }
      const request = next(index)
      if (request === undefined) {
        stoppedBy = 'supply'
        return
      }
      issued += 1
      const t0 = performance.now()
      try {
        const answer = await pool.request({
          path: request.path,
          method: request.method ?? 'GET',
          ...(request.headers ? { headers: request.headers } : {}),
        })
        if (answer.statusCode === expectStatus) {
          await answer.body.dump()
          latencies[count] = performance.now() - t0
          count += 1
        } else {
          const body = await answer.body.text()
          fail(`${answer.statusCode} ${body.slice(0, 300)}`)
        }
      } catch (error) {
        fail(error instanceof Error ? error.message : String(error))
      }
    }
  }
  await Promise.all(Array.from({ length: options.workers }, (_, index) => worker(index)))
  const elapsedMs = performance.now() - started
  return {
    count,
    errors,
    elapsedMs,
    stoppedBy,
    latenciesMs: latencies.subarray(0, count).sort(),
    errorSamples,
  }
}

/** The `q` quantile (0..1) of ascending values, nearest-rank; NaN when there are none. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank] ?? Number.NaN
}
