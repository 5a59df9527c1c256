/**
 * Whether the chain answers, as the request path and readiness see it.
 *
 * Every chain read a request waits for goes through `read`, under a short deadline
 * (`chain.readTimeoutMs`; viem's own is 15 s). A read that fails or runs out of time makes the
 * chain count as unreachable for `chain.readFailureTtlMs`: meanwhile `read` fails at once without
 * calling the chain. So an RPC that accepts connections and never answers costs the first request
 * its deadline, not every request — the callers then serve from the ledger or refuse with
 * `503 chain-unavailable` straight away (session/chain-state.ts, session/client-transaction.ts).
 *
 * `probe` is readiness's question (http/health.ts): it reads the block number through the same
 * gate, at most once per `probeEveryMs` while the chain answers, never while a failure is
 * remembered. The state changes are logged once each (failure-log.ts), never per request.
 */
import type { Logger } from 'pino'
import { GatewayError } from '../errors.js'
import { createFailureLog } from '../failure-log.js'

export type ChainReachability = {
  /**
   * Runs one chain read under the deadline.
   *
   * @throws GatewayError `chain-unavailable` when the read fails, is late, or a recent failure is
   *   remembered (then without calling `run`).
   */
  read<T>(run: () => Promise<T>): Promise<T>
  /** False while a failed read is remembered. */
  reachable(): boolean
  /** Whether the chain answers now (readiness); cheap when asked often. */
  probe(): Promise<boolean>
}

export function createChainReachability(options: {
  readonly timeoutMs: number
  readonly failureTtlMs: number
  /** The read `probe` makes (the latest block number). */
  readonly probeRead: () => Promise<unknown>
  readonly probeEveryMs?: number
  readonly logger: Logger
  readonly now: () => number
}): ChainReachability {
  const { now, timeoutMs } = options
  const probeEveryMs = options.probeEveryMs ?? 1_000
  const failures = createFailureLog({ logger: options.logger, what: 'chain reads', now })
  let downUntil = 0
  let answeredAt: number | undefined

  const unavailable = (cause?: unknown) =>
    new GatewayError('chain-unavailable', 'The chain could not be read.', {
      ...(cause === undefined ? {} : { cause }),
      retryAfter: 2,
    })

  const read = async <T>(run: () => Promise<T>): Promise<T> => {
    if (now() < downUntil) throw unavailable()
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer from the chain within ${timeoutMs} ms`)),
        timeoutMs,
      )
    })
    const call = run()
    // A late call is abandoned, not cancelled: its outcome must not surface as unhandled.
    call.catch(() => {})
    try {
      const value = await Promise.race([call, late])
      answeredAt = now()
      failures.succeeded()
      return value
    } catch (error) {
      downUntil = now() + options.failureTtlMs
      failures.failed(error)
      throw unavailable(error)
    } finally {
      clearTimeout(timer)
    }
  }

  return {
    read,
    reachable: () => now() >= downUntil,
    async probe() {
      if (now() < downUntil) return false
      if (answeredAt !== undefined && now() - answeredAt < probeEveryMs) return true
      try {
        await read(options.probeRead)
        return true
      } catch {
        return false
      }
    },
  }
}
