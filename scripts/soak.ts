/**
 * `npm run soak -- --minutes=N --rate=R`: the gateway under sustained paid load on the devnet with a
 * Redis ledger and the settler on (threshold 0.3), then idle, sampled all along — to see what
 * grows and what comes back.
 *
 * Setup reuses the bench's (scripts/bench/*): the devnet in this process (anvil its own process,
 * with bounded history: devnet.ts `retain`), the example upstream and ONE gateway in child
 * processes, a redis-server on loopback. Traffic: scripts/soak/load.ts. Every `--sample` seconds
 * it records the gateway's RSS, heap and event-loop delay (over IPC), its file descriptors and
 * anvil's RSS (/proc), Redis memory and keys by family, the gateway's settlements, closes,
 * warnings and errors (its log file), answered req/s and statuses (scripts/soak/sample.ts). After
 * `--minutes` of traffic it stays idle `--idle` seconds, sampling on.
 *
 * Writes samples.csv, minutes.csv and chart.svg into `--out` (a new temp directory by default),
 * prints start / middle / end / idle figures with slopes, and exits non-zero on an error-level log
 * line, a failed cooperative close, a Redis key family that grew while idle, or a persistent key of
 * a channel that is not open. Bounded: traffic stops after `--minutes`, everything it started is
 * stopped at the end, on error and on SIGINT/SIGTERM; only 127.0.0.1 is addressed.
 *
 * Usage: npm run soak -- [--minutes=15] [--rate=400] [--channels=50] [--idle=60] [--sample=10]
 *          [--out=<dir>]
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { formatUnits } from 'viem'
import { redisKeys } from '../src/ledger/redis/keys.js'
import { startDevnet, type Devnet } from '../test/devnet/devnet.js'
import { devnetConfig } from '../test/support/gateway.js'
import { startRedisServer, type RedisServer } from '../test/support/redis-server.js'
import { createChildSet, type Child } from './bench/children.js'
import { writeGatewaySpec } from './bench/gateway-spec.js'
import { writeChart } from './soak/chart.js'
import { startLoad, type Load } from './soak/load.js'
import {
  growingAfterLoad,
  summaryLines,
  writeMinutesCsv,
  writeSamplesCsv,
  type Sample,
} from './soak/report.js'
import { createLogTail, processFigures, redisFigures } from './soak/sample.js'

type Options = {
  readonly minutes: number
  readonly rate: number
  readonly channels: number
  readonly idleSeconds: number
  readonly sampleSeconds: number
  readonly out: string
}

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const keyPrefix = 'soak:'
const threshold = '0.3'
const mb = (bytes: number) => bytes / (1024 * 1024)

function parseOptions(args: readonly string[]): Options {
  const raw = (name: string) =>
    args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3)
  const number = (name: string, fallback: number, min: number, max: number) => {
    const text = raw(name)
    const value = text === undefined ? fallback : Number(text)
    if (!Number.isFinite(value) || value < min || value > max)
      throw new Error(`--${name} must be a number in ${min}..${max}`)
    return value
  }
  const minutes = number('minutes', 15, 0.05, 240)
  return {
    minutes,
    rate: number('rate', 400, 1, 5_000),
    channels: Math.round(number('channels', 50, 1, 500)),
    idleSeconds: number('idle', 60, 5, 3_600),
    sampleSeconds: number('sample', Math.min(10, Math.max(2, (minutes * 60) / 20)), 1, 300),
    out: resolve(raw('out') ?? mkdtempSync(join(tmpdir(), 'mpp-gateway-soak-'))),
  }
}

type Cleanup = {
  readonly children: ReturnType<typeof createChildSet>
  readonly tempDir: string
  devnet?: Devnet
  redis?: RedisServer
  admin?: Redis
  load?: Load
}

async function main(options: Options, cleanup: Cleanup): Promise<boolean> {
  mkdirSync(options.out, { recursive: true })
  const [one, five] = loadavg()
  console.log(
    `mpp-gateway soak — node ${process.version}, ${cpus().length} cpus, load average ` +
      `${one?.toFixed(2)} / ${five?.toFixed(2)} (1 / 5 min) at start; ${options.minutes} min at ` +
      `${options.rate} req/s, ${options.channels} voucher channels, idle ${options.idleSeconds} s, ` +
      `a sample every ${options.sampleSeconds} s; output in ${options.out}`,
  )
  // Bounded anvil: 16 states and the transactions of 256 blocks in memory (see anvil.ts `retain`
  // for why few states: each is a full copy; the gateway reads state at a receipt's block right
  // after the receipt, and receipts and logs of the last few blocks only).
  const devnet = await startDevnet({ payers: 0, retain: { states: 16, blocks: 256 } })
  cleanup.devnet = devnet
  // Fees for ~100,000 settlements: a settlement costs the payee a few thousandths of a unit.
  await devnet.fundFees(devnet.payee.address, 100_000_000_000n)
  const redis = await startRedisServer({ appendonly: true, appendfsync: 'everysec' })
  cleanup.redis = redis
  const admin = new Redis(redis.url)
  cleanup.admin = admin
  const upstream = await cleanup.children.start({
    name: 'upstream',
    entry: here('./bench/upstream-process.ts'),
  })

  // Enough deposit for the whole run with a margin: 3/5 of the rate spread over the channels.
  const perChannel = ((options.rate * 3) / 5 / options.channels) * options.minutes * 60 * 0.01
  const depositUnits = Math.max(10, Math.ceil(perChannel * 1.5))
  const config = devnetConfig({
    devnet,
    upstreamUrl: upstream.url,
    edit: (doc) => {
      doc.setIn(['session', 'suggestedDeposit'], String(depositUnits))
      doc.setIn(['ledger'], { type: 'redis', redis: { url: redis.url, keyPrefix } })
      doc.setIn(['settlement'], { amountThreshold: threshold })
    },
  })
  const logFile = join(options.out, 'gateway.log')
  const specPath = join(cleanup.tempDir, 'gateway.json')
  writeGatewaySpec(specPath, {
    name: 'soak',
    config,
    payments: true,
    runtime: 'tsx',
    logFile,
    accessLog: false,
  })
  const gateway: Child = await cleanup.children.start({
    name: 'gateway',
    entry: here('./bench/gateway-process.ts'),
    args: [specPath],
  })
  rmSync(cleanup.tempDir, { recursive: true, force: true })
  const log = createLogTail(logFile)

  const setupStarted = performance.now()
  const load = await startLoad({
    devnet,
    url: gateway.url,
    rate: options.rate,
    channels: options.channels,
    deposit: config.session.suggestedDeposit.amount,
    decimals: config.currency.decimals,
    payerFunds: 10_000_000n,
    log: (line) => console.log(line),
  })
  cleanup.load = load
  console.log(
    `setup: channels opened in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s; ` +
      `deposit ${depositUnits} units each; traffic running`,
  )

  const started = performance.now()
  const samples: Sample[] = []
  let lastSampleAt = started
  const sample = async (phase: Sample['phase']) => {
    const now = performance.now()
    const stats = await gateway.stats()
    const window = load.takeWindow()
    const seconds = Math.max(0.001, (now - lastSampleAt) / 1000)
    lastSampleAt = now
    const redisNow = await redisFigures(admin, keyPrefix)
    const counts = log.read()
    const per = (n: number | undefined) => (n ?? 0) / seconds
    const s: Sample = {
      t: Math.round((now - started) / 100) / 10,
      phase,
      gatewayRssMb: mb(stats.rss),
      heapUsedMb: mb(stats.heapUsed),
      heapTotalMb: mb(stats.heapTotal),
      loopP99Ms: stats.loopDelayP99Ms,
      loopMaxMs: stats.loopDelayMaxMs,
      fds: processFigures(gateway.pid).fds,
      anvilRssMb: mb(processFigures(devnet.anvilPid).rss),
      redisMb: mb(redisNow.usedMemory),
      keys: redisNow.keys,
      persistentKeys: Object.values(redisNow.persistent).reduce((a, b) => a + b, 0),
      strays: redisNow.strays,
      openChannels: redisNow.openChannels,
      settled: counts.settled,
      closed: counts.closed,
      errors: counts.errors,
      warnings: counts.warnings,
      unknownOutcomes: counts.unknownOutcomes,
      reqPerSec: per(window.answered),
      status2xx: per(window.statusClasses['2xx']),
      status4xx: per(window.statusClasses['4xx']),
      status5xx: per(window.statusClasses['5xx']),
      paidP99Ms: window.paidP99Ms,
    }
    samples.push(s)
    console.log(
      `  t=${String(s.t).padStart(6)} s ${phase.padEnd(4)} rss ${s.gatewayRssMb.toFixed(0)} MB ` +
        `heap ${s.heapUsedMb.toFixed(0)} MB loop p99 ${s.loopP99Ms.toFixed(1)} ms ` +
        `anvil ${s.anvilRssMb.toFixed(0)} MB redis ${s.redisMb.toFixed(1)} MB keys ` +
        `${Object.values(s.keys).reduce((a, b) => a + b, 0)} (fence ${s.keys.fence}) ` +
        `${s.reqPerSec.toFixed(0)} req/s 5xx ${s.status5xx.toFixed(1)}/s settled ${s.settled} ` +
        `closed ${s.closed} errors ${s.errors}`,
    )
  }
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms))

  // The fee token must not run dry, however long the run: top the payee up below 1,000 units.
  const topUp = async () => {
    if ((await devnet.balance(devnet.payee.address, devnet.feeToken)) < 1_000_000_000n)
      await devnet.fundFees(devnet.payee.address, 100_000_000_000n)
  }

  await sample('load')
  const loadEnd = started + options.minutes * 60_000
  while (performance.now() < loadEnd) {
    await wait(Math.min(options.sampleSeconds * 1000, Math.max(0, loadEnd - performance.now())))
    await topUp()
    await sample('load')
  }
  await load.stop()
  const idleEnd = performance.now() + options.idleSeconds * 1000
  await sample('idle')
  while (performance.now() < idleEnd) {
    await wait(Math.min(options.sampleSeconds * 1000, Math.max(0, idleEnd - performance.now())))
    await sample('idle')
  }

  // Money and settlement figures from the ledger itself.
  const channelKeys = await admin.keys(redisKeys(keyPrefix).channelPattern)
  const records = await Promise.all(
    channelKeys.map((k) => admin.hmget(k, 'spent', 'settled', 'status')),
  )
  const spent = records.reduce((a, [s]) => a + BigInt(s ?? 0), 0n)
  const settledTotal = records.reduce((a, [, s]) => a + BigInt(s ?? 0), 0n)
  const unit = 10n ** BigInt(config.currency.decimals)
  const thresholdUnits = BigInt(Math.round(Number(threshold) * Number(unit)))
  const implied = records.reduce(
    (a, [s, , status]) => a + (status === 'open' ? BigInt(s ?? 0) / thresholdUnits : 0n),
    0n,
  )
  const closesOk = load.closes.filter((c) => c.ok).length
  const closesFailed = load.closes.filter((c) => !c.ok)
  const counts = log.read()
  const paid200 = Object.entries(load.totals)
    .filter(([k]) => k === 'paid 200')
    .reduce((a, [, n]) => a + n, 0)

  const svg = join(options.out, 'chart.svg')
  writeSamplesCsv(join(options.out, 'samples.csv'), samples)
  writeMinutesCsv(join(options.out, 'minutes.csv'), load.minutes)
  await writeChart(
    svg,
    samples,
    `mpp-gateway soak: ${options.minutes} min at ${options.rate} req/s`,
  )

  console.log(`\n${load.describe()}`)
  console.log('answers:', JSON.stringify(load.totals))
  console.log('\nper minute (sent, skipped, statuses, paid p50/p99 ms):')
  for (const m of load.minutes)
    console.log(
      `  ${String(m.minute).padStart(3)}: sent ${m.sent} skipped ${m.skipped} ` +
        `${JSON.stringify(m.statuses)} paid ${m.p50Ms.paid.toFixed(1)}/${m.p99Ms.paid.toFixed(1)}`,
    )
  console.log('')
  for (const line of summaryLines(samples)) console.log(line)
  const last = samples.at(-1)!
  const first = samples[0]!
  const deltas = [...counts.settleDeltas].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const units = (x: bigint | undefined) =>
    x === undefined ? '-' : formatUnits(x, config.currency.decimals)
  const belowThreshold = deltas.filter((d) => d < thresholdUnits).length
  const [oneEnd, fiveEnd] = loadavg()
  console.log(
    `\nerror-level lines ${counts.errors}, warnings ${counts.warnings}, outcomes unknown ` +
      `${counts.unknownOutcomes}, receipts without their event ${counts.noEvent}` +
      `\nsettlements ${counts.settled} (voucher channels' spent implies at most ${implied} at ` +
      `${threshold}), closes ${closesOk}/${load.closes.length} answered with a transaction` +
      `\nsettlement amounts: min ${units(deltas[0])}, median ${units(deltas[Math.floor(deltas.length / 2)])}, ` +
      `max ${units(deltas.at(-1))}; ${belowThreshold} below the threshold` +
      `\ncharged ${formatUnits(spent, config.currency.decimals)} units in ${channelKeys.length} ` +
      `channels (paid 200s: ${paid200}); settled on chain ${formatUnits(settledTotal, config.currency.decimals)}` +
      `\nheap at idle ${last.heapUsedMb.toFixed(1)} MB vs ${first.heapUsedMb.toFixed(1)} MB at start; ` +
      `anvil RSS max ${Math.max(...samples.map((s) => s.anvilRssMb)).toFixed(0)} MB` +
      `\nRedis after idle: ${JSON.stringify(last.keys)}, ${last.persistentKeys} without TTL, ` +
      `${last.openChannels} open channels` +
      `\nload average at end ${oneEnd?.toFixed(2)} / ${fiveEnd?.toFixed(2)}` +
      `\nwritten: ${join(options.out, 'samples.csv')}, ${join(options.out, 'minutes.csv')}, ${svg}, ${logFile}`,
  )

  const failures: string[] = []
  if (counts.errors > 0)
    failures.push(`${counts.errors} error-level log lines, e.g.\n${counts.errorSamples.join('\n')}`)
  if (closesFailed.length > 0)
    failures.push(
      `${closesFailed.length} closes failed: ${closesFailed
        .map((c) => c.detail)
        .slice(0, 5)
        .join('; ')}`,
    )
  const growing = growingAfterLoad(samples)
  if (growing.length > 0) failures.push(`key families grew while idle: ${growing.join(', ')}`)
  if (last.strays > 0) failures.push(`${last.strays} keys without TTL of channels not open`)
  if (failures.length > 0) console.log(`\nFAILED:\n- ${failures.join('\n- ')}`)
  else console.log('\nOK: no error lines, every close answered, nothing grew while idle')
  return failures.length === 0
}

async function runCleanup(cleanup: Cleanup): Promise<void> {
  await cleanup.load?.stop().catch(() => undefined)
  cleanup.admin?.disconnect()
  await cleanup.children.stopAll()
  await cleanup.redis?.stop().catch(() => undefined)
  await cleanup.devnet?.stop().catch((error: unknown) => console.error(error))
  rmSync(cleanup.tempDir, { recursive: true, force: true })
}

const cleanup: Cleanup = {
  children: createChildSet(),
  tempDir: mkdtempSync(join(tmpdir(), 'mpp-gateway-soak-spec-')),
}
let cleaning: Promise<void> | undefined
const cleanUp = () => (cleaning ??= runCleanup(cleanup))
let interrupted = false
const interrupt = (signal: NodeJS.Signals) => {
  if (interrupted) return
  interrupted = true
  console.error(`\n${signal}: stopping the soak`)
  void cleanUp().finally(() => process.exit(130))
}
process.on('SIGINT', interrupt)
process.on('SIGTERM', interrupt)
process.stdout.on('error', () => {})
process.stderr.on('error', () => {})

let passed = false
try {
  passed = await main(parseOptions(process.argv.slice(2)), cleanup)
} catch (error) {
  if (!interrupted) console.error(error)
}
await cleanUp()
process.exit(interrupted ? 130 : passed ? 0 : 1)
