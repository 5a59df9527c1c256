/**
 * Spawns and owns one anvil process in Tempo mode on a loopback port.
 *
 * The binary comes from the `@foundry-rs/anvil-<platform>` npm package (an optional dependency of
 * the project: the `@foundry-rs/anvil` wrapper would pull every platform's package into the
 * lockfile) and is spawned directly, so the PID we hold is anvil's own and stopping it leaves
 * nothing behind.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)

export type Anvil = {
  readonly url: string
  readonly port: number
  readonly pid: number
  stop(): Promise<void>
}

export type StartAnvilOptions = {
  /** Loopback port; a free one is chosen when absent. */
  port?: number
  chainId?: number
  /** Tempo hardfork; t4 is the newest anvil 1.7.1 accepts and the session flow needs ≥ t1. */
  hardfork?: string
  readyTimeoutMs?: number
  /**
   * Bounded memory for long runs (a soak): keep at most this many states in memory
   * (`--prune-history N`) and the transactions of at most this many blocks
   * (`--transaction-block-keeper N`). Without it anvil keeps all history: its RSS grew from
   * ~100 MB to 6.4 GB over ~7,500 transactions and was not released when idle. Logs, receipts and
   * state reads older than that are gone, so suites that look back to block 0 leave it off.
   *
   * Keep `states` small: with `--prune-history` every retained state is a whole copy of the
   * chain's state held in memory (none goes to disk), so RSS grows as `states` × the state's size,
   * and the state grows with every payer and channel. Measured with scripts/anvil-rss.ts (3,000
   * fee-token transfers to new addresses, one block each): 257 MB with 64 states, 142 MB with 16,
   * 97 MB with 4 — against 143 MB with full history (older states go to a disk cache). The
   * gateway reads a state at a receipt's block right after the receipt (opens, top-ups), a block
   * or two back under load: 16 leaves a margin.
   */
  retain?: { readonly states: number; readonly blocks: number }
}

const platformPackages: Record<string, string> = {
  'linux-x64': '@foundry-rs/anvil-linux-amd64',
  'linux-arm64': '@foundry-rs/anvil-linux-arm64',
  'darwin-x64': '@foundry-rs/anvil-darwin-amd64',
  'darwin-arm64': '@foundry-rs/anvil-darwin-arm64',
  'win32-x64': '@foundry-rs/anvil-win32-amd64',
}

/** Path of the anvil binary for this platform, or a clear error saying why there is none. */
export function anvilBinary(): string {
  const key = `${process.platform}-${process.arch}`
  const pkg = platformPackages[key]
  if (!pkg) throw new Error(`anvil: no @foundry-rs/anvil binary is published for ${key}`)
  let manifest: string
  try {
    manifest = require.resolve(`${pkg}/package.json`)
  } catch {
    throw new Error(
      `anvil: package ${pkg}@1.7.1 is not installed (run \`npm ci\` without --omit=optional, or \`npm install --no-save ${pkg}@1.7.1\` on this platform)`,
    )
  }
  const binary = join(
    dirname(manifest),
    'bin',
    process.platform === 'win32' ? 'anvil.exe' : 'anvil',
  )
  if (!existsSync(binary)) throw new Error(`anvil: ${binary} is missing from ${pkg}`)
  return binary
}

/** Asks the kernel for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port)
        else reject(new Error('could not allocate a port'))
      })
    })
  })
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

/**
 * Ties a child's life to this process's: a tiny shell watchdog stops the child when this process
 * is gone, even after a SIGKILL that leaves no chance to clean up (a killed test runner must not
 * leave chains or servers running). It exits by itself once the child has stopped.
 */
export function leash(anvilPid: number | undefined): void {
  if (anvilPid === undefined || process.platform === 'win32') return
  const watchdog = spawn(
    'sh',
    [
      '-c',
      'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 0.5; done; kill -TERM "$2" 2>/dev/null; exit 0',
      'leash',
      String(process.pid),
      String(anvilPid),
    ],
    { stdio: 'ignore' },
  )
  watchdog.unref()
}

/** Starts anvil and resolves once it answers JSON-RPC; rejects with anvil's own words if it dies. */
export async function startAnvil(options: StartAnvilOptions = {}): Promise<Anvil> {
  const binary = anvilBinary()
  const port = options.port ?? (await freePort())
  const args = ['--network', 'tempo', '--hardfork', options.hardfork ?? 't4']
  args.push('--host', '127.0.0.1', '--port', String(port))
  if (options.chainId !== undefined) args.push('--chain-id', String(options.chainId))
  if (options.retain) {
    args.push('--prune-history', String(options.retain.states))
    args.push('--transaction-block-keeper', String(options.retain.blocks))
  }

  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)

  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      live.delete(child)
      resolve(code)
    })
  })
  child.once('error', (err) => {
    output += `\n${err.message}`
  })

  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000)
  for (;;) {
    const state = await Promise.race([exited.then(() => 'exited' as const), ping(url)])
    if (state === 'exited') {
      const inUse = /address already in use/i.test(output)
      throw new Error(
        inUse
          ? `anvil: port ${port} on 127.0.0.1 is already in use`
          : `anvil exited before it was ready:\n${output.trim()}`,
      )
    }
    if (state) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`anvil did not answer on ${url} within the timeout:\n${output.trim()}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }

  leash(child.pid)
  return {
    url,
    port,
    pid: child.pid ?? -1,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000)
      await exited
      clearTimeout(timer)
    },
  }
}

async function ping(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(1_000),
    })
    return res.ok
  } catch {
    return false
  }
}
