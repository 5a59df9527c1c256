/**
 * `npm run bench:settle`: the gateway's CPU per settlement transaction (scripts/bench/settlement-
 * cost.ts) — N channels opened and paid on the devnet, one admin "settle all", the gateway
 * child's CPU over it less its idle CPU for as long, per transaction. A measurement, not a test:
 * the target (≤ 3 ms per transaction, issue 10) is printed with pass/fail and never changes the
 * exit code.
 *
 * Usage: npm run bench:settle -- [--channels=64] [--runtime=dist|tsx] [--cpu-prof=<dir>]
 *          [--gateway-log=<file>]
 *
 *   --runtime      gateway code from `npm run build` (dist, the default: `npm run bench:settle`
 *                  builds first) or transpiled on load by tsx
 *   --cpu-prof     write the gateway child's V8 CPU profile into <dir>
 *   --gateway-log  keep the gateway's pino lines in <file> (default: discarded)
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startDevnet, type Devnet } from '../test/devnet/devnet.js'
import { createChildSet } from './bench/children.js'
import type { GatewayRuntime } from './bench/gateway-spec.js'
import { measureSettlementCost, settleTargetMs as targetMs } from './bench/settlement-cost.js'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

type Options = {
  readonly channels: number
  readonly runtime: GatewayRuntime
  readonly cpuProfDir: string | undefined
  readonly logFile: string | undefined
}

function parseOptions(args: readonly string[]): Options {
  const raw = (name: string) =>
    args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3)
  const channels = Number(raw('channels') ?? 64)
  if (!Number.isInteger(channels) || channels < 1 || channels > 500)
    throw new Error('--channels must be an integer in 1..500')
  const runtime = raw('runtime') ?? 'dist'
  if (runtime !== 'dist' && runtime !== 'tsx') throw new Error('--runtime must be dist or tsx')
  const cpuProf = raw('cpu-prof')
  const log = raw('gateway-log')
  return {
    channels,
    runtime,
    cpuProfDir: cpuProf === undefined ? undefined : resolve(cpuProf),
    logFile: log === undefined ? undefined : resolve(log),
  }
}

const children = createChildSet()
const tempDir = mkdtempSync(join(tmpdir(), 'mpp-gateway-bench-settle-'))
let devnet: Devnet | undefined
let cleaning: Promise<void> | undefined
const cleanUp = () =>
  (cleaning ??= (async () => {
    await children.stopAll()
    await devnet?.stop().catch((error: unknown) => console.error(error))
    rmSync(tempDir, { recursive: true, force: true })
  })())
const interrupt = () => void cleanUp().finally(() => process.exit(130))
process.on('SIGINT', interrupt)
process.on('SIGTERM', interrupt)

let failed = false
try {
  const options = parseOptions(process.argv.slice(2))
  if (options.runtime === 'dist' && !existsSync(here('../dist/gateway.js')))
    throw new Error('dist/gateway.js is missing: run `npm run build` first (or --runtime=tsx)')
  if (options.cpuProfDir) mkdirSync(options.cpuProfDir, { recursive: true })
  const started = performance.now()
  devnet = await startDevnet({ payers: 0 })
  const upstream = await children.start({
    name: 'upstream',
    entry: here('./bench/upstream-process.ts'),
  })
  const cost = await measureSettlementCost({
    devnet,
    children,
    upstreamUrl: upstream.url,
    tempDir,
    channels: options.channels,
    runtime: options.runtime,
    nodeFlags: options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [],
    ...(options.logFile ? { logFile: options.logFile } : {}),
  })
  const pass = cost.cpuMsPerTransaction <= targetMs
  console.log(
    `settlement cost (gateway code: ${options.runtime}): ${cost.transactions} settle transactions ` +
      `in ${(cost.settleWallMs / 1000).toFixed(2)} s; gateway CPU ${cost.settleCpuMs.toFixed(0)} ms ` +
      `(idle ${cost.idleCpuMsPerSecond.toFixed(1)} ms/s subtracted)\n` +
      `  ${cost.cpuMsPerTransaction.toFixed(2)} ms CPU per settlement transaction — ` +
      `${pass ? 'pass' : 'FAIL'} (target ≤ ${targetMs} ms)`,
  )
  console.log(`total: ${((performance.now() - started) / 1000).toFixed(1)} s`)
} catch (error) {
  failed = true
  console.error(error)
}
await cleanUp()
if (failed) process.exit(1)
