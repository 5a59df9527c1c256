/**
 * Benchmark: the rate limiter's cost per request — the gateway's one GCRA Lua script
 * (src/limits/redis.ts) against `rate-limiter-flexible`'s RateLimiterRedis (a fixed window:
 * INCRBY + EXPIRE in its own Lua script), both on one private redis-server over one ioredis
 * connection each, and the in-memory GCRA for reference.
 *
 * `rate-limiter-flexible` is not a dependency of the gateway: the script measures it when it can
 * be imported (`RATE_LIMITER_FLEXIBLE=/path/to/rate-limiter-flexible/index.js`, or installed
 * where Node resolves it) and says so otherwise.
 *
 * Each window runs `--concurrency` clients taking one request each after another, half of them
 * on one shared key (contention: most are refused) and half on a key of their own, for
 * `--duration` ms (capped at 10 s) or `--max-ops` calls, after a short warm-up; rounds
 * interleave the limiters so drift spreads evenly. Prints ops/s with p50/p99 latency.
 *
 * Usage: npm run bench:limits -- [--duration=2000] [--rounds=2] [--concurrency=16] [--max-ops=200000]
 */
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { gcraOf } from '../src/limits/gcra.js'
import { createMemoryRateLimiter } from '../src/limits/memory.js'
import type { RateLimiter } from '../src/limits/port.js'
import { createRedisRateLimiter } from '../src/limits/redis.js'
import { startRedisServer } from '../test/support/redis-server.js'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '16' },
    'max-ops': { type: 'string', default: '200000' },
  },
})
const durationMs = Math.min(Number(values.duration), 10_000)
const rounds = Math.min(Math.max(Number(values.rounds), 1), 5)
const concurrency = Math.min(Math.max(Number(values.concurrency), 1), 256)
const maxOps = Math.min(Number(values['max-ops']), 1_000_000)
const warmupMs = Math.min(300, durationMs / 4)

/** One request against `key`: resolves whatever the verdict. */
type Take = (key: string) => Promise<unknown>

type Result = { ops: number; seconds: number; latencies: number[] }

async function window(take: Take, label: string): Promise<Result> {
  const latencies: number[] = []
  let ops = 0
  const deadline = performance.now() + warmupMs + durationMs
  const measureFrom = performance.now() + warmupMs
  let measuredStart = 0
  const client = async (index: number) => {
    const key = index % 2 === 0 ? `${label}:shared` : `${label}:own:${index}`
    while (performance.now() < deadline && ops < maxOps) {
      const t0 = performance.now()
      await take(key)
      const t1 = performance.now()
      if (t0 >= measureFrom) {
        if (measuredStart === 0) measuredStart = t0
        latencies.push(t1 - t0)
        ops += 1
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, i) => client(i)))
  return { ops, seconds: (performance.now() - measuredStart) / 1000, latencies }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
}

async function main() {
  const redis = await startRedisServer()
  const connections: Redis[] = []
  const connect = () => {
    const client = new Redis(redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 })
    connections.push(client)
    return client
  }
  try {
    // 100 requests per second per key: the shared key is refused most of the time.
    const rate = gcraOf({ requests: 100, perSeconds: 1 })
    const now = () => Date.now()
    const lua: RateLimiter = createRedisRateLimiter({ client: connect(), keyPrefix: 'bench:' })
    const memory = createMemoryRateLimiter()
    const limiters: [string, Take][] = [
      ['gcra-lua (chosen)', (key) => lua.take(key, rate, now())],
      ['gcra-memory', (key) => memory.take(key, rate, now())],
    ]
    const flexible = await importFlexible()
    if (flexible) {
      const limiter = new flexible.RateLimiterRedis({
        storeClient: connect(),
        keyPrefix: 'bench-rlf',
        points: 100,
        duration: 1,
      })
      limiters.push([
        'rate-limiter-flexible',
        (key) => limiter.consume(key).catch((refusal: unknown) => refusal),
      ])
    } else {
      console.log('rate-limiter-flexible not importable: set RATE_LIMITER_FLEXIBLE to measure it')
    }
    const results = new Map<string, Result[]>()
    for (let round = 0; round < rounds; round++) {
      for (const [label, take] of limiters) {
        const result = await window(take, `${label}:${round}`)
        results.set(label, [...(results.get(label) ?? []), result])
      }
    }
    console.log(
      `concurrency ${concurrency}, ${rounds} round(s) of ${durationMs} ms, redis ${redis.url}`,
    )
    for (const [label, runs] of results) {
      const ops = runs.reduce((a, r) => a + r.ops, 0)
      const seconds = runs.reduce((a, r) => a + r.seconds, 0)
      const sorted = runs.flatMap((r) => r.latencies).sort((a, b) => a - b)
      console.log(
        `${label.padEnd(24)} ${Math.round(ops / seconds)
          .toString()
          .padStart(
            8,
          )} ops/s   p50 ${percentile(sorted, 0.5).toFixed(3)} ms   p99 ${percentile(sorted, 0.99).toFixed(3)} ms`,
      )
    }
  } finally {
    for (const c of connections) c.disconnect()
    await redis.stop()
  }
}

type Flexible = {
  RateLimiterRedis: new (options: Record<string, unknown>) => {
    consume(key: string): Promise<unknown>
  }
}

async function importFlexible(): Promise<Flexible | undefined> {
  const specifier = process.env.RATE_LIMITER_FLEXIBLE ?? 'rate-limiter-flexible'
  try {
    const module = (await import(specifier)) as Flexible & { default?: Flexible }
    return module.default ?? module
  } catch {
    return undefined
  }
}

await main()
