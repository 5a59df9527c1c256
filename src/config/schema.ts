/**
 * The one schema of gateway.yaml and the `Config` type derived from it.
 *
 * Three layers, all inside this single zod schema: the field-level structure (shape.ts), the
 * rules between fields (cross-checks.ts, run even when fields fail so every problem is reported
 * at once), and the final conversion below, which only runs on a fully valid file.
 *
 * Money: amounts become `bigint` base units here, using `currency.decimals`, and keep the text
 * the operator wrote for display. From this point on no amount is ever a `number`.
 */
import { privateKeyToAddress } from 'viem/accounts'
import type { z } from 'zod'
import { crossFieldIssues } from './cross-checks.js'
import { toBaseUnits, type ExactDecimal } from './decimal-amount.js'
import type { DeepReadonly } from './deep-freeze.js'
import type { PathSegment } from './errors.js'
import type { WrittenPrice } from './field-types.js'
import { publicNetworks } from './networks.js'
import { unitSourceOf } from './metered.js'
import { configShape, type ConfigShape } from './shape.js'

/** An amount in base units of the currency, with the decimal text it was written as. */
export type Amount = { readonly amount: bigint; readonly text: string }

/** A route's price: free, or a positive amount in base units of the currency. */
export type Price =
  | { readonly kind: 'free'; readonly amount: 0n; readonly text: 'free' }
  | { readonly kind: 'paid'; readonly amount: bigint; readonly text: string }

/** Builds the final configuration from a structurally valid one that passed the cross-field rules. */
function finalizeConfig(shape: ConfigShape, ctx: z.RefinementCtx) {
  // The cross-field rules have already refused anything that fails here; should one slip
  // through, it is still reported (and fails the parse) rather than thrown or defaulted.
  const fail = (path: PathSegment[], message: string) => {
    ctx.addIssue({ code: 'custom', path, message })
  }
  const amountOf = (decimal: ExactDecimal, path: PathSegment[]): Amount => {
    const converted = toBaseUnits(decimal, shape.currency.decimals)
    if (!converted.ok) fail(path, converted.problem)
    return { amount: converted.ok ? converted.value : 0n, text: decimal.text }
  }
  const priceOf = (price: WrittenPrice, path: PathSegment[]): Price =>
    price.kind === 'free'
      ? { kind: 'free', amount: 0n, text: 'free' }
      : { kind: 'paid', ...amountOf(price.decimal, path) }

  const { network } = shape.chain
  const profile = publicNetworks[network]
  const rpcUrl = shape.chain.rpcUrl ?? profile?.rpcUrl
  const chainId = shape.chain.chainId ?? profile?.chainId
  if (rpcUrl === undefined) fail(['chain', 'rpcUrl'], `is required when network is ${network}`)
  if (chainId === undefined) fail(['chain', 'chainId'], `is required when network is ${network}`)
  const { redis } = shape.ledger
  if (shape.ledger.type === 'redis' && redis === undefined) {
    fail(['ledger', 'redis'], 'is required when ledger.type is redis')
  }
  const { session } = shape
  return {
    server: shape.server,
    chain: {
      network,
      rpcUrl: rpcUrl ?? '',
      chainId: chainId ?? 0,
      escrow: shape.chain.escrow,
      stateTtlMs: shape.chain.stateTtlMs,
      readTimeoutMs: shape.chain.readTimeoutMs,
      readFailureTtlMs: shape.chain.readFailureTtlMs,
    },
    payee: { ...shape.payee, signerAddress: privateKeyToAddress(shape.payee.signerKey) },
    currency: {
      token: shape.currency.token,
      decimals: shape.currency.decimals,
      feeToken: shape.currency.feeToken ?? shape.currency.token,
    },
    session: {
      suggestedDeposit: amountOf(session.suggestedDeposit, ['session', 'suggestedDeposit']),
      minVoucherDelta: amountOf(session.minVoucherDelta, ['session', 'minVoucherDelta']),
      minDeposit: amountOf(session.minDeposit, ['session', 'minDeposit']),
      reservationTtlSeconds: session.reservationTtlSeconds,
    },
    settlement: {
      ...shape.settlement,
      amountThreshold: amountOf(shape.settlement.amountThreshold, [
        'settlement',
        'amountThreshold',
      ]),
    },
    ledger:
      shape.ledger.type === 'redis' && redis !== undefined
        ? { type: 'redis' as const, redis }
        : { type: 'memory' as const },
    tempoCharge: shape.tempoCharge,
    discovery: shape.discovery,
    admin: shape.admin,
    limits: shape.limits,
    idempotency: shape.idempotency,
    upstreams: shape.upstreams,
    routes: shape.routes.map(({ metered, ...route }, index) => ({
      ...route,
      price: priceOf(route.price, ['routes', index, 'price']),
      metered:
        metered === undefined
          ? undefined
          : {
              base: amountOf(metered.base, ['routes', index, 'metered', 'base']).amount,
              perUnit: amountOf(metered.perUnit, ['routes', index, 'metered', 'perUnit']).amount,
              units: unitSourceOf(metered.units),
              bufferBytes: metered.bufferBytes,
            },
      // Default: every intent this gateway has configured; a metered route's price is known only
      // from its answer, which a one-shot payment cannot wait for.
      intents:
        route.intents ??
        (metered !== undefined ? (['session'] as const) : undefined) ??
        (shape.tempoCharge.enabled ? (['session', 'charge'] as const) : (['session'] as const)),
    })),
  }
}

/**
 * The schema of gateway.yaml (after `${ENV}` expansion). Its input side is what the operator
 * writes (and what the JSON Schema for editors describes); its output side is `Config`.
 */
export const configSchema = configShape
  .superRefine(
    (shape, ctx) => {
      for (const issue of crossFieldIssues(shape, ctx.issues)) {
        ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message })
      }
    },
    // Run even after field problems, so every problem is reported in one pass.
    { when: () => true },
  )
  .transform(finalizeConfig)

/** The gateway's configuration: parsed once at boot, deeply frozen, money in base units. */
export type Config = DeepReadonly<z.output<typeof configSchema>>

/** What the operator writes, as the schema accepts it (amounts are strings). */
export type ConfigInput = z.input<typeof configSchema>

export type ServerConfig = Config['server']
export type ChainConfig = Config['chain']
export type PayeeConfig = Config['payee']
export type CurrencyConfig = Config['currency']
export type SessionConfig = Config['session']
export type LedgerConfig = Config['ledger']
export type UpstreamConfig = Config['upstreams'][string]
export type RouteConfig = Config['routes'][number]
export type RouteMethod = RouteConfig['method']
export type DiscoveryConfig = Config['discovery']
export type TempoChargeConfig = Config['tempoCharge']
/** A way a priced route may be paid: `session` (a payment channel) or `charge` (one-shot). */
export type PaymentIntent = RouteConfig['intents'][number]
export type AdminConfig = NonNullable<Config['admin']>
export type LimitsConfig = Config['limits']
export type RateConfig = NonNullable<LimitsConfig['challengesPerClient']>
