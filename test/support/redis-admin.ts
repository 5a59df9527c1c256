/**
 * What the test helpers that run several Redis processes (redis-cluster.ts, redis-sentinel.ts)
 * share: a short-lived admin connection to one node, and a bounded wait on a condition.
 */
import { Redis } from 'ioredis'

/** Runs `work` on a short-lived connection to the Redis (or Sentinel) on loopback `port`. */
export async function askNode<T>(port: number, work: (admin: Redis) => Promise<T>): Promise<T> {
  const admin = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  admin.on('error', () => undefined)
  try {
    await admin.connect()
    return await work(admin)
  } finally {
    admin.disconnect()
  }
}

/** Polls `check` every 50 ms until it holds, bounded by `timeoutMs`; `what` names it on failure. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      if (await check()) return
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`, { cause: last })
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
