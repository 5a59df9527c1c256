/**
 * The Redis rate limiter: the GCRA script (redis-script.ts) run through the ledger's script
 * runner, on the ledger's connection. Every instance on the same Redis and key prefix shares the
 * keys, so a limit holds across instances. Keys expire by themselves once their TAT has passed.
 *
 * Failures are the caller's to judge (the limits in limits.ts let a request through when Redis
 * cannot be asked: the ledger, which every paid request needs, fails closed on its own).
 */
import type { RedisClient } from '../ledger/redis/connection.js'
import { redisKeys } from '../ledger/redis/keys.js'
import { createScriptRunner } from '../ledger/redis/script-runner.js'
import type { RateLimiter } from './port.js'

export function createRedisRateLimiter(options: {
  client: RedisClient
  keyPrefix: string
}): RateLimiter {
  const scripts = createScriptRunner(options.client)
  const keys = redisKeys(options.keyPrefix)
  return {
    async take(key, rate, now) {
      const { reply } = await scripts.run({
        name: 'gcra',
        keys: [keys.limit(key)],
        args: [
          Math.round(now * 1000).toString(),
          rate.intervalUs.toString(),
          rate.burst.toString(),
        ],
      })
      if (!Array.isArray(reply) || (reply[0] !== 'allowed' && reply[0] !== 'limited')) {
        throw new Error('rate limiter: unexpected script reply')
      }
      if (reply[0] === 'allowed') return { kind: 'allowed' }
      return { kind: 'limited', retryAfterMs: Number(reply[1]) }
    },
  }
}
