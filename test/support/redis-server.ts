/**
 * A private redis-server for one test file or benchmark: its own free loopback port, its own
 * temporary directory, its own process — never the shared Redis of the machine.
 *
 * Invariants:
 *  - the harness owns the PID it spawned and only ever signals that PID;
 *  - ports are picked below the kernel's ephemeral range, so while a killed server is down no
 *    outgoing connection can take its port;
 *  - `restart()` starts a new process on the SAME port and directory, so an append-only file
 *    written before a crash (`kill9()`) is loaded again;
 *  - `stop()` removes the directory; at process exit every server still running is killed and its
 *    directory removed, so a failing test leaves nothing behind;
 *  - readiness means a real `PING` answered `PONG` (after `AUTH` when a password is set), not
 *    merely an open port: a server still loading its data answers `LOADING`.
 */
import { leash } from '../devnet/anvil.js'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'

export type RedisServerOptions = {
  appendonly?: boolean
  appendfsync?: 'always' | 'everysec' | 'no'
  port?: number
  password?: string
  /** Serve TLS only (`rediss://`), with a fresh self-signed certificate (`caCert`). */
  tls?: boolean
  /** Extra `--name value` arguments, e.g. `['--rename-command', 'CONFIG', '']`. */
  args?: readonly string[]
  /** Parent of the temporary directory (default: the OS temp dir). */
  baseDir?: string
}

export type RedisServer = {
  readonly url: string
  readonly port: number
  /** PID of the current process (changes on `restart()`). */
  readonly pid: number
  readonly dir: string
  /** PEM of the self-signed certificate when `tls` is on. */
  readonly caCert: string | undefined
  /** SIGTERM (a clean shutdown), wait, then remove the directory. Idempotent. */
  stop(): Promise<void>
  /** SIGKILL, as a crash: no shutdown work, the directory stays for `restart()`. */
  kill9(): Promise<void>
  /** Stops the current process if it runs, then starts a new one on the same port and dir. */
  restart(): Promise<void>
  /** SIGSTOP: the server hangs with its connections open (a stuck Redis). */
  freeze(): void
  /** SIGCONT after `freeze()`. */
  thaw(): void
}

const binary = 'redis-server'
const readyTimeoutMs = 10_000
const live = new Set<{ child: ChildProcess; dir: string }>()

process.on('exit', () => {
  for (const { child, dir } of live) {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
})

/** Whether `port` can be bound on the loopback interface right now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** The first port of the kernel's ephemeral range (outgoing connections take ports from it). */
function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)
    const start = Number(low)
    return Number.isInteger(start) && start > 20_000 ? start : 32_768
  } catch {
    return 32_768
  }
}

/**
 * A free port for a test server, chosen at random BELOW the kernel's ephemeral range. Why: a
 * server that was killed must be restartable on its port, and ports in the ephemeral range are
 * handed out meanwhile to other tests' servers and to every outgoing connection (including the
 * ledger's own reconnection attempts), which would take it.
 */
export async function freePort(): Promise<number> {
  const low = 20_000
  const high = ephemeralStart()
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = low + Math.floor(Math.random() * (high - low))
    if (await canListen(port)) return port
  }
  throw new Error(`no free port in ${low}-${high - 1}`)
}

/** One RESP command as bytes. */
const resp = (...parts: string[]) =>
  `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`

/** Whether the server at `port` answers PING with PONG (over TLS when `ca` is given). */
function pingOnce(options: {
  port: number
  password: string | undefined
  ca: string | undefined
}): Promise<boolean> {
  const { port, password, ca } = options
  return new Promise((resolve) => {
    const socket =
      ca === undefined
        ? createConnection({ host: '127.0.0.1', port })
        : tlsConnect({ host: '127.0.0.1', port, ca })
    let data = ''
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once('error', () => done(false))
    socket.once(ca === undefined ? 'connect' : 'secureConnect', () => {
      socket.write((password ? resp('AUTH', password) : '') + resp('PING'))
    })
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1')
      if (data.includes('+PONG')) done(true)
      else if (data.includes('-')) done(false)
    })
  })
}

function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  const made = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { encoding: 'utf8' },
  )
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr || String(made.error)}`)
  return { cert, key }
}

/** Starts a private redis-server and waits until it answers PING. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  let port = options.port ?? (await freePort())
  const dir = mkdtempSync(join(options.baseDir ?? tmpdir(), 'mppgw-redis-'))
  const args = ['--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no']
  let caCert: string | undefined
  if (options.tls) {
    const { cert, key } = makeCertificate(dir)
    caCert = readFileSync(cert, 'utf8')
    args.push('--port', '0', '--tls-cert-file', cert, '--tls-key-file', key)
    args.push('--tls-ca-cert-file', cert, '--tls-auth-clients', 'no')
  }
  const listen = () => [options.tls ? '--tls-port' : '--port', String(port)]
  args.push('--appendonly', options.appendonly ? 'yes' : 'no')
  if (options.appendfsync) args.push('--appendfsync', options.appendfsync)
  if (options.password !== undefined) args.push('--requirepass', options.password)
  args.push(...(options.args ?? []))

  let current: { child: ChildProcess; dir: string } | undefined
  let removed = false

  const exited = (child: ChildProcess) =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.once('exit', () => resolve()))

  const ready = async (child: ChildProcess, output: () => string) => {
    const deadline = Date.now() + readyTimeoutMs
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode}):\n${output()}`)
      }
      if (await pingOnce({ port, password: options.password, ca: caCert })) return
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    throw new Error(`redis-server did not answer PING within ${readyTimeoutMs} ms:\n${output()}`)
  }

  const launch = async () => {
    const child = spawn(binary, [...args, ...listen()], { stdio: ['ignore', 'pipe', 'pipe'] })
    leash(child.pid)
    let log = ''
    const keep = (chunk: Buffer) => {
      log = (log + chunk.toString('utf8')).slice(-4_000)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve)
      child.once('error', (error: NodeJS.ErrnoException) => {
        reject(
          error.code === 'ENOENT'
            ? new Error(
                `${binary} not found on PATH: install Redis ≥ 7 (e.g. apt-get install redis-server)`,
              )
            : error,
        )
      })
    })
    await spawned
    const entry = { child, dir }
    live.add(entry)
    current = entry
    try {
      await ready(child, () => log)
    } catch (error) {
      child.kill('SIGKILL')
      await exited(child)
      live.delete(entry)
      throw error
    }
  }

  const halt = async (signal: NodeJS.Signals) => {
    const entry = current
    if (!entry) return
    current = undefined
    const { child } = entry
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT')
      child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited(child)
      clearTimeout(timer)
    }
    live.delete(entry)
  }

  // The kernel's free port can be taken by a parallel test before redis-server binds it: then
  // (and only when no port was asked for) try another one, at most three times.
  for (let attempt = 1; ; attempt += 1) {
    try {
      await launch()
      break
    } catch (error) {
      const taken = error instanceof Error && /Address already in use/.test(error.message)
      if (taken && options.port === undefined && attempt < 3) {
        port = await freePort()
        continue
      }
      rmSync(dir, { recursive: true, force: true })
      throw error
    }
  }

  const password = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`
  return {
    url: `${options.tls ? 'rediss' : 'redis'}://${password}127.0.0.1:${port}`,
    port,
    get pid() {
      const pid = current?.child.pid
      if (pid === undefined) throw new Error('redis-server is not running')
      return pid
    },
    dir,
    caCert,
    async stop() {
      await halt('SIGTERM')
      if (!removed) {
        removed = true
        rmSync(dir, { recursive: true, force: true })
      }
    },
    async kill9() {
      await halt('SIGKILL')
    },
    async restart() {
      if (removed) throw new Error('redis-server was stopped; its directory is gone')
      await halt('SIGTERM')
      await launch()
    },
    freeze() {
      current?.child.kill('SIGSTOP')
    },
    thaw() {
      current?.child.kill('SIGCONT')
    },
  }
}
