/**
 * Opening the storage the configuration asks for: the ledger, its channel index, the settlement
 * store, and beside a Redis ledger the rate-limit counts and kept paid answers (memory when the
 * ledger is memory). Shared by the gateway and the standalone settler (gateway.ts).
 */
import type { Logger } from 'pino'
import type { Config } from './config/schema.js'
import { createMemoryIdempotencyStore, type IdempotencyStore } from './ledger/idempotency.js'
import { createRedisIdempotencyStore } from './ledger/redis/idempotency.js'
import { createMemoryLedger } from './ledger/memory.js'
import { createRedisLedger } from './ledger/redis/ledger.js'
import { checkDurability } from './ledger/redis/durability.js'
import type { RedisTarget } from './ledger/redis/connection.js'
import type { ChannelIndex, LedgerPort } from './ledger/port.js'
import { createRedisSettlementStore } from './ledger/redis/settlement-store.js'
import { createMemoryRateLimiter } from './limits/memory.js'
import type { RateLimiter } from './limits/port.js'
import { createRedisRateLimiter } from './limits/redis.js'
import { createMemorySettlementStore, type SettlementStore } from './settlement/store.js'

/** The ledger, its channel index and the settlement store the configuration asks for. */
export type Storage = {
  readonly ledger: LedgerPort
  readonly index: ChannelIndex
  readonly store: SettlementStore
  /** Rate-limit counts: in Redis beside a Redis ledger; in memory when absent. */
  readonly limiter?: RateLimiter
  /** Paid answers kept for retries; in the ledger's store (memory when not given). */
  readonly idempotency?: IdempotencyStore
}

export async function openStorage(options: {
  config: Config
  logger: Logger
  now: () => number
}): Promise<Storage> {
  const { ledger: settings } = options.config
  if (settings.type === 'memory') {
    options.logger.warn(
      'ledger.type is memory: accepted vouchers live in this process only and are lost on restart; use redis in production',
    )
    const ledger = createMemoryLedger()
    return {
      ledger,
      index: ledger.index,
      store: createMemorySettlementStore(options.now),
      limiter: createMemoryRateLimiter(),
      idempotency: createMemoryIdempotencyStore(),
    }
  }
  const logger = options.logger.child({ component: 'ledger' })
  const { url, cluster, sentinel, keyPrefix, minReplicas, minReplicasTimeoutMs } = settings.redis
  // The config check guarantees exactly one of the three.
  const target: RedisTarget = cluster ? { cluster } : sentinel ? { sentinel } : { url: url ?? '' }
  const ledger = await createRedisLedger({
    ...target,
    keyPrefix,
    logger,
    minReplicas,
    minReplicasTimeoutMs,
  })
  try {
    checkDurability(await ledger.durability(), {
      requireDurable: settings.redis.requireDurable,
      logger,
    })
    if (minReplicas > 0) {
      const replicas = await ledger.replicas()
      if (replicas < minReplicas) {
        logger.warn(
          { replicas, minReplicas },
          'ledger.redis.minReplicas exceeds the replicas of a Redis primary: its paid requests answer 503 until enough replicas connect',
        )
      }
    }
  } catch (error) {
    await ledger.close()
    throw error
  }
  return {
    ledger,
    index: ledger.index,
    store: createRedisSettlementStore({
      client: ledger.client,
      keyPrefix: settings.redis.keyPrefix,
    }),
    limiter: createRedisRateLimiter({
      client: ledger.client,
      keyPrefix: settings.redis.keyPrefix,
    }),
    idempotency: createRedisIdempotencyStore({
      client: ledger.client,
      keyPrefix: settings.redis.keyPrefix,
    }),
  }
}
