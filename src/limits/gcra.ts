/**
 * The generic cell rate algorithm (GCRA): one number per key, the theoretical arrival time (TAT)
 * of the next request if requests came exactly at the allowed rate. A rate of `requests` per
 * `perSeconds` is an emission interval `T = perSeconds / requests` and a burst of `requests`:
 *
 *   tat  = max(stored TAT, now)
 *   allow when tat − now ≤ T × (requests − 1); the key then stores tat + T
 *   else refuse, retry after tat − T × (requests − 1) − now
 *
 * Why GCRA and not a window counter: one stored number, no window edge where twice the rate
 * passes, and the exact wait until the next request would pass (`Retry-After`). A refused
 * request stores nothing, so hammering while limited does not push the wait further out.
 *
 * Time is whole microseconds from the gateway's clock (not Redis's, which the ledger never relies
 * on either): a microsecond epoch stays below 2^53, so Lua's doubles hold it exactly. This file is
 * the specification; the memory limiter applies it and the Redis script (redis-script.ts)
 * mirrors it line by line.
 */

/** A rate as the algorithm uses it. */
export type Gcra = {
  /** Microseconds between two requests at the allowed rate (at least 1). */
  readonly intervalUs: number
  /** Requests that may arrive back to back. */
  readonly burst: number
}

/** `requests` per `perSeconds`, as GCRA parameters. */
export function gcraOf(rate: { readonly requests: number; readonly perSeconds: number }): Gcra {
  return {
    intervalUs: Math.max(1, Math.floor((rate.perSeconds * 1_000_000) / rate.requests)),
    burst: rate.requests,
  }
}

export type GcraStep =
  /** Allowed: store `tatUs`, which may be dropped after `ttlMs`. */
  | { readonly allowed: true; readonly tatUs: number; readonly ttlMs: number }
  /** Refused: nothing to store; the next request passes in `retryAfterMs`. */
  | { readonly allowed: false; readonly retryAfterMs: number }

/** One request against a key whose stored TAT is `storedUs` (undefined: never seen or expired). */
export function gcraStep(options: {
  readonly storedUs: number | undefined
  readonly nowUs: number
  readonly rate: Gcra
}): GcraStep {
  const { nowUs, rate } = options
  const tat = Math.max(options.storedUs ?? 0, nowUs)
  const tolerance = rate.intervalUs * (rate.burst - 1)
  if (tat - nowUs > tolerance) {
    return { allowed: false, retryAfterMs: Math.ceil((tat - tolerance - nowUs) / 1000) }
  }
  const next = tat + rate.intervalUs
  // Past `next` the stored value equals "never seen": the key can go.
  return { allowed: true, tatUs: next, ttlMs: Math.ceil((next - nowUs) / 1000) }
}
