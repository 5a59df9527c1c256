/**
 * `npm run bench`: what payments cost, measured side by side in ONE run — the upstream alone, the
 * gateway with payments off (the plain-proxy reference), a free route, 402 challenges, paid
 * requests with a new voucher each, and paid requests re-sending one voucher — as req/s at a fixed
 * connection count, p50/p99 latency and the ratio to the reference; then p50/p99 at one
 * connection with the latency the paid path adds. Targets are printed with pass/fail; a missed
 * target never changes the exit code (this is a measurement, not a test).
 *
 * Processes: this one runs the devnet (anvil is its own process) and the load generator; the
 * example upstream and every gateway variant run in child processes of their own (children.ts),
 * all on 127.0.0.1. Every child is stopped and every temp file removed at the end, on error, and
 * on SIGINT/SIGTERM. Rows and their targets: scripts/bench/rows.ts.
 *
 * Usage: npm run bench -- [--concurrency=32] [--duration=3000] [--warmup=1000] [--rounds=3]
 *          [--runtime=dist|tsx] [--rows=plain,new-voucher] [--cpu-prof=<dir>] [--gateway-logs=<dir>]
 *          [--gateway-node-flags="<flags>"] [--settle-channels=64]
 *
 *   --runtime       gateway code from `npm run build` (dist, the default: `npm run bench` builds
 *                   first) or transpiled on load by tsx
 *   --rows          measure only these rows (the reference row is always added)
 *   --cpu-prof      write V8 CPU profiles of every gateway child into <dir>/<variant>/
 *   --gateway-logs  keep the gateways' pino lines in <dir>/<variant>.log (default: discarded)
 *   --gateway-node-flags  Node flags for every gateway child, space-separated
 *                   (e.g. "--max-semi-space-size=64")
 *   --settle-channels  channels the settlement row opens, pays and settles at once, for the
 *                   gateway's CPU per settlement transaction (bench/settlement-cost.ts); 0: no row
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startDevnet, type Devnet } from '../test/devnet/devnet.js'
import { createChildSet, type Child } from './bench/children.js'
import { writeGatewaySpec, type GatewayRuntime } from './bench/gateway-spec.js'
import { Redis } from 'ioredis'
import {
  gatewayVariants,
  variantConfig,
  type GatewayName,
  type GatewayVariant,
} from './bench/gateways.js'
import { startRedisCluster, type RedisCluster } from '../test/support/redis-cluster.js'
import { startRedisServer, type RedisServer } from '../test/support/redis-server.js'
import { measure, type PreparedRow, type WindowFigures } from './bench/measure.js'
import {
  errorDetails,
  latencyTable,
  summarize,
  throughputTable,
  type Verdict,
} from './bench/report.js'
import { rows as allRows, type RowSpec } from './bench/rows.js'
import { measureSettlementCost, settleTargetMs } from './bench/settlement-cost.js'

type Options = {
  readonly concurrency: number
  readonly durationMs: number
  readonly warmupMs: number
  readonly rounds: number
  readonly runtime: GatewayRuntime
  readonly rows: readonly string[] | undefined
  readonly cpuProfDir: string | undefined
  readonly logDir: string | undefined
  readonly gatewayNodeFlags: readonly string[]
  /** Channels the settlement row settles (0: no settlement row). */
  readonly settleChannels: number
}

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

function parseOptions(args: readonly string[]): Options {
  const raw = (name: string) =>
    args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3)
  const integer = (name: string, fallback: number, bounds: { min: number; max: number }) => {
    const text = raw(name)
    const value = text === undefined ? fallback : Number(text)
    if (!Number.isInteger(value) || value < bounds.min || value > bounds.max)
      throw new Error(`--${name} must be an integer in ${bounds.min}..${bounds.max}`)
    return value
  }
  const runtime = raw('runtime') ?? 'dist'
  if (runtime !== 'dist' && runtime !== 'tsx') throw new Error('--runtime must be dist or tsx')
  const known = new Set(allRows.map((row) => row.id))
  const rows = raw('rows')?.split(',')
  for (const id of rows ?? [])
    if (!known.has(id)) throw new Error(`unknown row ${id}; rows: ${[...known].join(', ')}`)
  const dir = (name: string) => {
    const value = raw(name)
    return value === undefined ? undefined : resolve(value)
  }
  return {
    concurrency: integer('concurrency', 32, { min: 1, max: 256 }),
    durationMs: integer('duration', 3000, { min: 100, max: 10_000 }),
    warmupMs: integer('warmup', 1000, { min: 0, max: 10_000 }),
    rounds: integer('rounds', 3, { min: 1, max: 9 }),
    runtime,
    rows,
    cpuProfDir: dir('cpu-prof'),
    gatewayNodeFlags: raw('gateway-node-flags')?.split(' ').filter(Boolean) ?? [],
    settleChannels: integer('settle-channels', 64, { min: 0, max: 500 }),
    logDir: dir('gateway-logs'),
  }
}

/** The selected rows, in table order, always with the reference row. */
function selectRows(ids: readonly string[] | undefined): RowSpec[] {
  return allRows.filter((row) => ids === undefined || row.reference || ids.includes(row.id))
}

async function main(options: Options, cleanup: Cleanup): Promise<void> {
  if (options.runtime === 'dist' && !existsSync(here('../dist/gateway.js')))
    throw new Error('dist/gateway.js is missing: run `npm run build` first (or --runtime=tsx)')
  const selected = selectRows(options.rows)
  const cpu = cpus()
  console.log(
    `mpp-gateway bench — node ${process.version} ${process.platform}-${process.arch}, ` +
      `${cpu.length}× ${cpu[0]?.model.trim() ?? 'unknown cpu'}; gateway code: ${options.runtime}`,
  )
  console.log(
    `${options.concurrency} connections, ${options.rounds} rounds × ${options.durationMs} ms ` +
      `after ${options.warmupMs} ms warm-up per row, rows interleaved; median of rounds\n`,
  )

  const started = performance.now()
  const devnet = await startDevnet({ payers: 0 })
  cleanup.devnet = devnet
  const upstream = await cleanup.children.start({
    name: 'upstream',
    entry: here('./bench/upstream-process.ts'),
  })

  const names = [
    ...new Set(selected.flatMap((row) => (row.target === 'upstream' ? [] : [row.target]))),
  ]
  if (options.cpuProfDir) mkdirSync(options.cpuProfDir, { recursive: true })
  if (options.logDir) mkdirSync(options.logDir, { recursive: true })
  const gateways = new Map<GatewayName, { child: Child; deposit: bigint; decimals: number }>()
  const redisServers = new Map<GatewayName, RedisServer>()
  for (const name of names) {
    const variant: GatewayVariant = gatewayVariants[name]
    if (variant.redis) {
      const server = await startRedisServer({ appendonly: true, appendfsync: variant.redis })
      cleanup.redis.push(server)
      redisServers.set(name, server)
    }
    let redisClusterNodes: readonly string[] | undefined
    if (variant.redisCluster) {
      const cluster = await startRedisCluster({ appendfsync: 'everysec' })
      cleanup.clusters.push(cluster)
      redisClusterNodes = cluster.seeds
    }
    const redisUrl = redisServers.get(name)?.url
    const config = variantConfig({
      devnet,
      upstreamUrl: upstream.url,
      variant,
      ...(redisUrl ? { redisUrl } : {}),
      ...(redisClusterNodes ? { redisClusterNodes } : {}),
    })
    const specPath = join(cleanup.tempDir, `gateway-${name}.json`)
    writeGatewaySpec(specPath, {
      name,
      config,
      payments: gatewayVariants[name].payments,
      runtime: options.runtime,
      logFile: options.logDir ? join(options.logDir, `${name}.log`) : '/dev/null',
    })
    const child = await cleanup.children.start({
      name: `gateway ${name}`,
      entry: here('./bench/gateway-process.ts'),
      args: [specPath],
      nodeFlags: [
        ...options.gatewayNodeFlags,
        ...(options.cpuProfDir
          ? [
              '--cpu-prof',
              // One directory per variant: Node writes one profile per thread (tsx's loader
              // hooks run in a thread of their own), under names it chooses.
              `--cpu-prof-dir=${join(options.cpuProfDir, name)}`,
            ]
          : []),
      ],
    })
    gateways.set(name, {
      child,
      deposit: config.session.suggestedDeposit.amount,
      decimals: config.currency.decimals,
    })
  }
  // Every child has read its spec (it holds devnet keys): nothing is left behind even if this
  // process is killed later (tsx SIGKILLs a child that is slow to acknowledge a relayed signal).
  rmSync(cleanup.tempDir, { recursive: true, force: true })

  const prepared: PreparedRow[] = await Promise.all(
    selected.map(async (spec) => {
      const gateway = spec.target === 'upstream' ? undefined : gateways.get(spec.target)
      const server = gateway?.child ?? upstream
      const traffic = await spec.traffic({
        devnet,
        url: server.url,
        maxWorkers: options.concurrency,
        deposit: gateway?.deposit ?? 0n,
        decimals: gateway?.decimals ?? 6,
      })
      return { spec, server, traffic }
    }),
  )
  console.log(`setup (devnet, ${names.length + 1} servers, channels): ${seconds(started)}\n`)

  const progress = (connections: number) => (row: RowSpec, round: number, figures: WindowFigures) =>
    console.log(
      `  ${connections} conn, round ${round + 1}: ${row.id.padEnd(13)} ` +
        `${figures.rps.toFixed(0).padStart(6)} req/s  p99 ${figures.p99Ms.toFixed(2)} ms` +
        (figures.errors > 0 ? `  ${figures.errors} errors` : '') +
        (figures.stoppedBy === 'time' ? '' : `  (stopped by ${figures.stoppedBy})`),
    )
  const main = await measure({
    rows: prepared,
    workers: options.concurrency,
    durationMs: options.durationMs,
    warmupMs: options.warmupMs,
    rounds: options.rounds,
    onWindow: progress(options.concurrency),
  })
  const single = prepared.filter((row) => row.spec.oneConnection)
  const oneConnection = await measure({
    rows: single,
    workers: 1,
    durationMs: options.durationMs,
    warmupMs: options.warmupMs,
    rounds: options.rounds,
    onWindow: progress(1),
  })

  const throughputSummaries = summarize(selected, main)
  const latencySummaries = summarize(
    single.map((row) => row.spec),
    oneConnection,
  )
  const throughput = throughputTable(throughputSummaries)
  const latency = latencyTable(latencySummaries)
  console.log(
    `\nThroughput at ${options.concurrency} connections (gateway code: ${options.runtime})\n`,
  )
  for (const line of throughput.lines) console.log(line)
  console.log(`\nLatency at 1 connection\n`)
  for (const line of latency.lines) console.log(line)
  const errors = errorDetails([...throughputSummaries, ...latencySummaries])
  if (errors.length > 0)
    console.log(`\nUnexpected answers (first of each row):\n${errors.join('\n')}`)
  console.log('\nTraffic:')
  for (const row of prepared) {
    const line = row.traffic.describe?.()
    if (line !== undefined) console.log(`  ${row.spec.id}: ${line}`)
  }
  if (redisServers.size > 0) {
    console.log('\nRedis commands per paid request (INFO commandstats over a 1-connection window):')
    for (const row of prepared) {
      const server = row.spec.target === 'upstream' ? undefined : redisServers.get(row.spec.target)
      if (!server) continue
      const admin = new Redis(server.url)
      try {
        await admin.config('RESETSTAT')
        const windows = await measure({
          rows: [row],
          workers: 1,
          durationMs: 1_000,
          warmupMs: 200,
          rounds: 1,
        })
        const answered = windows.get(row.spec.id)?.[0]?.count ?? 0
        const stats = commandStats(await admin.info('commandstats'))
        const per = (n: number) => (answered > 0 ? (n / answered).toFixed(2) : '-')
        const all = [...stats.values()].reduce((a, b) => a + b, 0)
        console.log(
          `  ${row.spec.id}: ${answered} requests (plus warm-up); evalsha ${per(stats.get('evalsha') ?? 0)}, ` +
            `all commands ${per(all)} per request; ` +
            [...stats].map(([name, calls]) => `${name}=${calls}`).join(' '),
        )
      } finally {
        admin.disconnect()
      }
    }
  }
  const settlement: Verdict[] = []
  if (options.settleChannels > 0) {
    // The spec files were removed once the gateways had read them (they hold the payee key); the
    // settlement row's gateway gets a fresh private directory, removed the same way at the end.
    mkdirSync(cleanup.tempDir, { recursive: true, mode: 0o700 })
    const cost = await measureSettlementCost({
      devnet,
      children: cleanup.children,
      upstreamUrl: upstream.url,
      tempDir: cleanup.tempDir,
      runtime: options.runtime,
      channels: options.settleChannels,
      nodeFlags: options.gatewayNodeFlags,
    })
    const pass = cost.cpuMsPerTransaction <= settleTargetMs
    console.log(
      `\nSettlement: ${cost.transactions} settle transactions in ${cost.settleWallMs.toFixed(0)} ms; ` +
        `gateway CPU ${cost.settleCpuMs.toFixed(0)} ms less idle ` +
        `(${cost.idleCpuMsPerSecond.toFixed(1)} ms/s) = ` +
        `${cost.cpuMsPerTransaction.toFixed(2)} ms per transaction (target ≤ ${settleTargetMs} ms: ` +
        `${pass ? 'pass' : 'FAIL'})`,
    )
    settlement.push({
      row: 'settlement',
      target: `CPU per settle transaction ≤ ${settleTargetMs} ms`,
      pass,
    })
  }
  printVerdicts([...throughput.verdicts, ...latency.verdicts, ...settlement])
  console.log(`\ntotal: ${seconds(started)}`)
  if (options.cpuProfDir) console.log(`CPU profiles of the gateways: ${options.cpuProfDir}`)
}

function printVerdicts(verdicts: readonly Verdict[]): void {
  const passed = verdicts.filter((v) => v.pass).length
  console.log(`\nTargets: ${passed}/${verdicts.length} met`)
  for (const v of verdicts) console.log(`  ${v.pass ? 'pass' : 'FAIL'}  ${v.row}: ${v.target}`)
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`
}

/** `INFO commandstats` as calls per command. */
function commandStats(info: string): Map<string, number> {
  const calls = new Map<string, number>()
  for (const m of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) calls.set(m[1]!, Number(m[2]))
  return calls
}

/** What has to be undone however the run ends. */
type Cleanup = {
  readonly children: ReturnType<typeof createChildSet>
  readonly tempDir: string
  devnet: Devnet | undefined
  readonly redis: RedisServer[]
  readonly clusters: RedisCluster[]
}

async function runCleanup(cleanup: Cleanup): Promise<void> {
  await cleanup.children.stopAll()
  await Promise.all(cleanup.redis.map((server) => server.stop().catch(() => undefined)))
  await Promise.all(cleanup.clusters.map((cluster) => cluster.stop().catch(() => undefined)))
  await cleanup.devnet?.stop().catch((error: unknown) => console.error(error))
  rmSync(cleanup.tempDir, { recursive: true, force: true })
}

const cleanup: Cleanup = {
  children: createChildSet(),
  tempDir: mkdtempSync(join(tmpdir(), 'mpp-gateway-bench-')),
  devnet: undefined,
  redis: [],
  clusters: [],
}
// One cleanup, whoever asks first (the end of main or a signal); both exit only after it.
let cleaning: Promise<void> | undefined
const cleanUp = () => (cleaning ??= runCleanup(cleanup))
let interrupted = false
const interrupt = (signal: NodeJS.Signals) => {
  if (interrupted) return
  interrupted = true
  console.error(`\n${signal}: stopping the bench`)
  void cleanUp().finally(() => process.exit(130))
}
process.on('SIGINT', interrupt)
process.on('SIGTERM', interrupt)
// With the terminal or npm gone, writes to stdout/stderr fail with EPIPE: keep cleaning up.
process.stdout.on('error', () => {})
process.stderr.on('error', () => {})

let failed = false
try {
  await main(parseOptions(process.argv.slice(2)), cleanup)
} catch (error) {
  failed = true
  // After a signal, failures are the stop itself (children gone mid-window), not news.
  if (!interrupted) console.error(error)
}
await cleanUp()
process.exit(interrupted ? 130 : failed ? 1 : 0)
