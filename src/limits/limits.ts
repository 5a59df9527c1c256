/**
 * The configured request limits, as the gate asks them: before a 402 challenge is issued (per
 * client address, `limits.challengesPerClient`) and before a paid request's price is reserved
 * (per payer and per channel, a route's `rateLimit`). Over a limit is `429 rate-limited` with
 * `Retry-After`; nothing is reserved, charged or forwarded.
 *
 * Why the paid limits are checked after the voucher signature and not on the bare credential:
 * channel ids and payer addresses are public on chain, so a limit keyed on an unverified claim
 * would let anyone use up a paying client's rate with forged credentials. A verified signature
 * proves the request comes from the channel's signer; it is an offline check, before the ledger.
 *
 * Why a limiter that cannot be asked lets the request through: the limits protect the upstream
 * and the gateway, not money. A paid request still needs the ledger, which fails closed on its
 * own (503 ledger-unavailable); a challenge costs one HMAC. The failure is logged.
 *
 * Keys name the route by method and path pattern, so a reload that reorders routes keeps the
 * counts, and a limit counts requests on its own route only.
 */
import type { Address, Hex } from 'viem'
import type { Logger } from 'pino'
import type { RateConfig } from '../config/schema.js'
import { GatewayError } from '../errors.js'
import { createFailureLog } from '../failure-log.js'
import { gcraOf, type Gcra } from './gcra.js'
import type { RateLimiter } from './port.js'

/** A route's per-payer and per-channel rates (`rateLimit` in the route's config). */
export type RouteRates = {
  readonly perPayer?: Gcra | undefined
  readonly perChannel?: Gcra | undefined
}

/** Who pays a request, proven by its voucher signature. */
export type Payer = { readonly payer: Address; readonly channelId: Hex }

export type Limits = {
  /** Throws `rate-limited` when `client` was issued too many challenges. */
  challenge(client: string): Promise<void>
  /** Throws `rate-limited` when the payer or the channel is over the route's rates. */
  paid(
    route: { readonly method: string; readonly path: string },
    rates: RouteRates,
    who: Payer,
  ): Promise<void>
}

/** A route's `rateLimit` as GCRA parameters. */
export function routeRates(
  config:
    | { readonly perPayer?: RateConfig | undefined; readonly perChannel?: RateConfig | undefined }
    | undefined,
): RouteRates | undefined {
  if (!config || (!config.perPayer && !config.perChannel)) return undefined
  return {
    perPayer: config.perPayer ? gcraOf(config.perPayer) : undefined,
    perChannel: config.perChannel ? gcraOf(config.perChannel) : undefined,
  }
}

export function createLimits(options: {
  limiter: RateLimiter
  /** `limits.challengesPerClient`; without it challenges are not limited. */
  challenges: Gcra | undefined
  logger: Logger
  now: () => number
  /** Counts every refusal, by what was limited. */
  onLimited?: (limit: 'challengesPerClient' | 'perPayer' | 'perChannel') => void
}): Limits {
  const { limiter, now } = options
  const failures = createFailureLog({
    logger: options.logger.child({ component: 'limits' }),
    what: 'rate limiter (requests pass unlimited meanwhile)',
    now,
  })

  const take = async (
    key: string,
    rate: Gcra,
    limit: 'challengesPerClient' | 'perPayer' | 'perChannel',
  ): Promise<void> => {
    let verdict
    try {
      verdict = await limiter.take(key, rate, now())
      failures.succeeded()
    } catch (error) {
      failures.failed(error)
      return
    }
    if (verdict.kind === 'allowed') return
    options.onLimited?.(limit)
    throw new GatewayError('rate-limited', 'Too many requests; retry after the delay.', {
      details: { limit, retryAfterMs: verdict.retryAfterMs },
      // Whole seconds, rounded up: a client that waits exactly this long gets through.
      retryAfter: Math.max(1, Math.ceil(verdict.retryAfterMs / 1000)),
    })
  }

  return {
    async challenge(client) {
      if (options.challenges)
        await take(`challenge:${client}`, options.challenges, 'challengesPerClient')
    },
    async paid(route, rates, who) {
      const at = `${route.method} ${route.path}`
      if (rates.perPayer)
        await take(`payer:${at}:${who.payer.toLowerCase()}`, rates.perPayer, 'perPayer')
      if (rates.perChannel)
        await take(`channel:${at}:${who.channelId.toLowerCase()}`, rates.perChannel, 'perChannel')
    },
  }
}
