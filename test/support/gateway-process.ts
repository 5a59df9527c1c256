/**
 * A gateway as its own process (`src/main.ts --config …`), for tests that must kill it, run two
 * of them side by side, or restart one: the config is config/devnet.yaml with per-test edits,
 * written to a temporary file, with its `${ENV}` references filled from the devnet.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { readFileSync } from 'node:fs'
import { parseDocument } from 'yaml'
import { leash } from '../devnet/anvil.js'
import type { DevnetInfo } from '../devnet/devnet.js'
import { devnetEnv } from './gateway.js'

export type GatewayProcess = {
  readonly url: string
  readonly pid: number
  /** The configuration file the process was started with (a test may rewrite it and reload). */
  readonly configFile: string
  /** The variables the process sees (the devnet's). */
  readonly env: Record<string, string>
  /** Every log line the process wrote, parsed. */
  readonly lines: Record<string, unknown>[]
  stop(): Promise<void>
  kill9(): Promise<void>
}

export type GatewayProcessSpec = {
  devnet: DevnetInfo
  upstreamUrl: string
  edit?: (doc: ReturnType<typeof parseDocument>) => void
  /** `run` (default) or `settle`. */
  command?: 'run' | 'settle'
  /** More command-line arguments (e.g. `--watch-config`). */
  args?: string[]
  port?: number
}

const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

export async function startGatewayProcess(spec: GatewayProcessSpec): Promise<GatewayProcess> {
  const doc = parseDocument(
    readFileSync(new URL('../../config/devnet.yaml', import.meta.url), 'utf8'),
  )
  spec.edit?.(doc)
  const dir = mkdtempSync(join(tmpdir(), 'mppgw-process-'))
  const file = join(dir, 'gateway.yaml')
  writeFileSync(file, doc.toString())
  const args = [
    '--import',
    'tsx',
    'src/main.ts',
    ...(spec.command === 'settle' ? ['settle'] : []),
    '--config',
    file,
    ...(spec.args ?? []),
  ]
  const env = { ...devnetEnv(spec.devnet, spec.upstreamUrl), GATEWAY_PORT: String(spec.port ?? 0) }
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  live.add(child)
  leash(child.pid)
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)))
  const lines: Record<string, unknown>[] = []
  const exited = once(child, 'exit')
  const ready = new Promise<string>((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>
        lines.push(entry)
        if (entry.msg === 'gateway listening') resolve(entry.url as string)
        if (entry.msg === 'settler running') resolve('')
      } catch {
        // not a log line
      }
    })
  })
  const url = await Promise.race([
    ready,
    exited.then(() => {
      throw new Error(`gateway process exited before it was ready:\n${stderr}`)
    }),
    new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`gateway process not ready in 60 s:\n${stderr}`)),
        60_000,
      ).unref(),
    ),
  ])
  const done = async () => {
    if (child.exitCode === null && child.signalCode === null) await exited
    live.delete(child)
    rmSync(dir, { recursive: true, force: true })
  }
  return {
    url,
    pid: child.pid ?? -1,
    configFile: file,
    env,
    lines,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await done()
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await done()
    },
  }
}
