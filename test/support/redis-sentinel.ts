/**
 * A private Redis Sentinel group for one test file: a primary and its replica (two
 * `startRedisServer` processes, redis-server.ts) watched by one Sentinel under the name `ledger`,
 * all on free loopback ports.
 *
 * Readiness is what the servers report, never a pause: the replica `online` at the primary, and
 * the Sentinel naming the primary and knowing the replica. The Sentinel declares a primary down
 * after 1 s (quorum 1), so a killed primary's replica takes over within a few seconds
 * (`promoted`).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { leash } from '../devnet/anvil.js'
import { askNode, waitFor } from './redis-admin.js'
import { freePort, startRedisServer, type RedisServer } from './redis-server.js'

export type RedisSentinelGroup = {
  readonly name: string
  readonly primary: RedisServer
  readonly replica: RedisServer
  /** `redis://127.0.0.1:<port>` of the Sentinel. */
  readonly sentinelUrl: string
  /** Waits until the Sentinel names `server` as the primary (bounded by `timeoutMs`). */
  promoted(server: RedisServer, timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

const name = 'ledger'

export async function startRedisSentinel(): Promise<RedisSentinelGroup> {
  const primary = await startRedisServer()
  const replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', `${primary.port}`] })
  const dir = mkdtempSync(join(tmpdir(), 'mppgw-sentinel-'))
  const port = await freePort()
  const conf = join(dir, 'sentinel.conf')
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${primary.port} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 10000`,
      '',
    ].join('\n'),
  )
  const child: ChildProcess = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' })
  leash(child.pid)
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
    await Promise.all([primary.stop(), replica.stop()])
  }
  process.on('exit', () => child.kill('SIGKILL'))

  const named = async () =>
    (await askNode(port, (admin) => admin.call('SENTINEL', 'get-master-addr-by-name', name))) as
      [string, string] | null

  try {
    await waitFor(
      'the replica online and known to the Sentinel',
      async () => {
        const replication = await askNode(primary.port, (admin) => admin.info('replication'))
        if (!new RegExp(`port=${replica.port},state=online`).test(replication)) return false
        if ((await named())?.[1] !== String(primary.port)) return false
        const replicas = (await askNode(port, (admin) =>
          admin.call('SENTINEL', 'replicas', name),
        )) as string[][]
        return replicas.some((fields) => fields.includes(String(replica.port)))
      },
      20_000,
    )
  } catch (error) {
    await stop()
    throw error
  }

  return {
    name,
    primary,
    replica,
    sentinelUrl: `redis://127.0.0.1:${port}`,
    async promoted(server, timeoutMs = 20_000) {
      await waitFor(
        `port ${server.port} promoted`,
        async () => {
          if ((await named())?.[1] !== String(server.port)) return false
          const role = await askNode<unknown[]>(server.port, (admin) => admin.role())
          return role[0] === 'master'
        },
        timeoutMs,
      )
    },
    stop,
  }
}
