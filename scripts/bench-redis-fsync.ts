/**
 * Benchmark: what `appendfsync always` costs the ledger's hot path compared with `everysec`.
 *
 * Starts two private redis-server processes (AOF on, `always` vs `everysec`, each in its own
 * temporary directory on the filesystem under test) and drives the real `authorize` script
 * through `createRedisLedger`: each client has its own connection and its own channel and charges
 * one request after another with a fresh voucher (`mode: 'commit'`, the write that must be
 * durable). Runs 1 and 16 concurrent clients per mode, interleaved in rounds so drift spreads
 * evenly, and prints ops/s with p50/p99 latency side by side.
 *
 * Bounded: each window lasts `--duration` ms (capped at 10 s) and at most `--max-ops` calls; the
 * servers are stopped and their directories removed at the end (or at exit).
 *
 * Usage: npm run bench:redis-fsync -- [--duration=3000] [--rounds=2] [--max-ops=200000]
 *        [--dir=/var/lib/somewhere]   (default: the OS temp dir — make sure it is a real disk)
 */
import { spawnSync } from 'node:child_process'
import { cpus, tmpdir } from 'node:os'
import { parseArgs } from 'node:util'
import type { Hex } from 'viem'
import { createRedisLedger, type RedisLedger } from '../src/ledger/redis/ledger.js'
import { startRedisServer, type RedisServer } from '../test/support/redis-server.js'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '2' },
    'max-ops': { type: 'string', default: '200000' },
    dir: { type: 'string', default: tmpdir() },
  },
})
const durationMs = Math.min(Number(values.duration), 10_000)
const rounds = Math.min(Math.max(Number(values.rounds), 1), 5)
const maxOps = Math.min(Number(values['max-ops']), 1_000_000)
const warmupMs = Math.min(500, durationMs / 4)
const baseDir = values.dir

const modes = ['always', 'everysec'] as const
type Mode = (typeof modes)[number]
const concurrencies = [1, 16] as const
const now = 1_700_000_000_000

type Window = { ops: number; ms: number; latencies: number[] }

/** A channel per client with a deposit no benchmark can exhaust. */
async function openChannel(ledger: RedisLedger, n: number): Promise<Hex> {
  const channelId: Hex = `0x${(Date.now() * 1000 + n).toString(16).padStart(64, '0')}`
  await ledger.open(
    {
      channelId,
      chainId: 31337,
      escrow: '0x4d50500000000000000000000000000000000000',
      descriptor: {
        payer: '0x1111111111111111111111111111111111111111',
        payee: '0x2222222222222222222222222222222222222222',
        operator: '0x0000000000000000000000000000000000000000',
        token: '0x20c0000000000000000000000000000000000000',
        salt: `0x${'ab'.repeat(32)}`,
        authorizedSigner: '0x0000000000000000000000000000000000000000',
        expiringNonceHash: `0x${'cd'.repeat(32)}`,
      },
      deposit: 10n ** 30n,
      settled: 0n,
    },
    now,
  )
  return channelId
}

let channelCounter = 0

/** Runs `clients` sequential chargers for one window and returns what the measured part did. */
async function measure(server: RedisServer, clients: number): Promise<Window> {
  const ledgers = await Promise.all(
    Array.from({ length: clients }, () =>
      createRedisLedger({ url: server.url, keyPrefix: 'bench:' }),
    ),
  )
  try {
    const channels = await Promise.all(
      ledgers.map((ledger) => openChannel(ledger, (channelCounter += 1))),
    )
    const started = performance.now()
    const measureFrom = started + warmupMs
    const end = measureFrom + durationMs
    const latencies: number[] = []
    let ops = 0
    await Promise.all(
      ledgers.map(async (ledger, i) => {
        const channelId = channels[i]!
        for (let cum = 1n; ; cum += 1n) {
          const t0 = performance.now()
          if (t0 >= end || ops >= maxOps) return
          const result = await ledger.authorize({
            channelId,
            voucher: { cumulative: cum, signature: `0x${cum.toString(16).padStart(130, '0')}` },
            amount: 1n,
            mode: 'commit',
            minDelta: 0n,
            now,
          })
          if (result.kind !== 'authorized') throw new Error(`unexpected ${result.kind}`)
          const t1 = performance.now()
          if (t0 >= measureFrom) {
            latencies.push(t1 - t0)
            ops += 1
          }
        }
      }),
    )
    return { ops, ms: Math.min(performance.now(), end) - measureFrom, latencies }
  } finally {
    await Promise.all(ledgers.map((ledger) => ledger.close()))
  }
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

function filesystemOf(dir: string): string {
  const out = spawnSync('df', ['-T', dir], { encoding: 'utf8' })
  const line = out.stdout?.trim().split('\n')[1]
  return line ? `${line.split(/\s+/)[1]} (${line.split(/\s+/)[0]})` : 'unknown'
}

async function main() {
  const servers = new Map<Mode, RedisServer>()
  try {
    for (const mode of modes) {
      servers.set(mode, await startRedisServer({ appendonly: true, appendfsync: mode, baseDir }))
    }
    const version = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim()
    console.log(`${version}`)
    console.log(
      `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; AOF under ${baseDir}: ${filesystemOf(baseDir)}`,
    )
    console.log(`window ${durationMs} ms after ${warmupMs} ms warm-up, ${rounds} round(s)\n`)

    const results = new Map<string, Window>()
    for (let round = 0; round < rounds; round += 1) {
      for (const clients of concurrencies) {
        for (const mode of modes) {
          const window = await measure(servers.get(mode)!, clients)
          const key = `${mode}/${clients}`
          const sum = results.get(key) ?? { ops: 0, ms: 0, latencies: [] }
          results.set(key, {
            ops: sum.ops + window.ops,
            ms: sum.ms + window.ms,
            latencies: sum.latencies.concat(window.latencies),
          })
        }
      }
    }

    const rows = [['appendfsync', 'clients', 'authorize/s', 'p50 ms', 'p99 ms']]
    for (const clients of concurrencies) {
      for (const mode of modes) {
        const r = results.get(`${mode}/${clients}`)!
        const sorted = [...r.latencies].sort((a, b) => a - b)
        rows.push([
          mode,
          String(clients),
          Math.round((r.ops / r.ms) * 1000).toString(),
          quantile(sorted, 0.5).toFixed(3),
          quantile(sorted, 0.99).toFixed(3),
        ])
      }
    }
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)))
    for (const row of rows) {
      console.log(row.map((cell, c) => cell.padStart(widths[c]!)).join('  '))
    }
  } finally {
    for (const server of servers.values()) await server.stop()
  }
}

await main()
