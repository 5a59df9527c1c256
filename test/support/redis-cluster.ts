/**
 * A private Redis Cluster for one test file or benchmark: three primaries and three replicas, each
 * a `startRedisServer` process on its own free loopback port (redis-server.ts), joined with
 * `redis-cli --cluster create … --cluster-replicas 1`.
 *
 * Readiness is what Redis itself reports, never a pause: every node says `cluster_state:ok` with
 * all 16384 slots assigned and six known nodes, and every primary has its replica `online` in
 * `INFO replication`. A failover is waited for the same way (`promoted`).
 *
 * Settings chosen for tests and for what the ledger recommends (docs/DESIGN.md "Replicas and
 * failover"): `cluster-node-timeout 1000` so a killed primary's replica takes over within a few
 * seconds; `cluster-require-full-coverage no` so the slots of the other primaries keep answering
 * while one primary is down.
 */
import { spawn } from 'node:child_process'
import { askNode, waitFor } from './redis-admin.js'
import { freePort, startRedisServer, type RedisServer } from './redis-server.js'

export type ClusterNode = {
  readonly server: RedisServer
  /** The node id `CLUSTER MYID` gave at start. */
  readonly id: string
}

export type RedisCluster = {
  /** Every node, primaries and replicas, in start order. */
  readonly nodes: readonly ClusterNode[]
  /** `redis://127.0.0.1:<port>` of every node (seed nodes for the ledger). */
  readonly seeds: readonly string[]
  /** The nodes that are primaries now, with the replica of each (asked of a live node). */
  primaries(): Promise<{ primary: ClusterNode; replica: ClusterNode | undefined }[]>
  /** The node holding `key`'s slot as primary now. */
  primaryOf(key: string): Promise<ClusterNode>
  /**
   * Waits until `replica` is a primary seen by every live node and the cluster is `ok` again
   * (bounded by `timeoutMs`).
   */
  promoted(replica: ClusterNode, timeoutMs?: number): Promise<void>
  /**
   * Waits until `node` (restarted after a crash, same port and directory) is a replica again with
   * its replication link up and its primary reporting it `online`.
   */
  rejoined(node: ClusterNode, timeoutMs?: number): Promise<void>
  /** Stops every node and removes their directories. */
  stop(): Promise<void>
}

const size = { primaries: 3, replicas: 3 } as const

function runCli(args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.once('error', reject)
    child.once('exit', (code) => {
      if (code === 0 && !output.includes('[ERR]')) resolve()
      else reject(new Error(`redis-cli ${args.join(' ')} failed (${code}):\n${output}`))
    })
  })
}

/** `CLUSTER INFO` as a map. */
const clusterInfo = async (server: RedisServer) =>
  Object.fromEntries(
    (await askNode(server.port, (admin) => admin.cluster('INFO')))
      .split(/\r?\n/)
      .map((line) => line.split(':') as [string, string]),
  )

type NodeLine = { id: string; port: number; flags: string[]; primaryId: string }

/** `CLUSTER NODES` as seen by `server`. */
async function clusterNodes(server: RedisServer): Promise<NodeLine[]> {
  const text = String(await askNode(server.port, (admin) => admin.cluster('NODES')))
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id = '', address = '', flags = '', primaryId = ''] = line.split(' ')
      return { id, port: Number(/:(\d+)@/.exec(address)?.[1]), flags: flags.split(','), primaryId }
    })
}

/** Starts six nodes, joins them into a cluster and waits until it serves every slot. */
export async function startRedisCluster(
  options: {
    readonly timeoutMs?: number
    /** Every node with an append-only file and this fsync policy (default: no AOF). */
    readonly appendfsync?: 'always' | 'everysec'
  } = {},
): Promise<RedisCluster> {
  const timeoutMs = options.timeoutMs ?? 30_000
  const args = [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    'nodes.conf',
    '--cluster-node-timeout',
    '1000',
    '--cluster-require-full-coverage',
    'no',
  ]
  const settled = await Promise.allSettled(
    Array.from({ length: size.primaries + size.replicas }, async () =>
      startRedisServer({
        // The cluster bus gets a free port of its own: the default (port + 10000) could be any
        // other server's port, or fall in the kernel's ephemeral range.
        args: [...args, '--cluster-port', String(await freePort())],
        ...(options.appendfsync ? { appendonly: true, appendfsync: options.appendfsync } : {}),
      }),
    ),
  )
  const servers = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
  const failed = settled.find((s) => s.status === 'rejected')
  if (failed) {
    await Promise.all(servers.map((server) => server.stop()))
    throw failed.reason
  }
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()))
  }
  try {
    const nodes: ClusterNode[] = await Promise.all(
      servers.map(async (server) => ({
        server,
        id: String(await askNode(server.port, (admin) => admin.cluster('MYID'))),
      })),
    )
    await runCli([
      '--cluster',
      'create',
      ...servers.map((server) => `127.0.0.1:${server.port}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ])
    const byId = new Map(nodes.map((node) => [node.id, node]))
    const live = () => nodes.filter((node) => isRunning(node.server))

    const primaries = async () => {
      const [first] = live()
      if (!first) throw new Error('redis cluster: no node is running')
      const lines = await clusterNodes(first.server)
      const up = (line: NodeLine) => !line.flags.includes('fail') && !line.flags.includes('fail?')
      return lines
        .filter((line) => line.flags.includes('master') && up(line))
        .map((line) => {
          const replica = lines.find((l) => l.primaryId === line.id && up(l))
          return {
            primary: byId.get(line.id)!,
            replica: replica ? byId.get(replica.id) : undefined,
          }
        })
    }

    const healthy = async () => {
      for (const node of live()) {
        const info = await clusterInfo(node.server)
        if (info.cluster_state !== 'ok' || info.cluster_slots_ok !== '16384') return false
      }
      return true
    }

    await waitFor(
      'every node ok, six known, every primary with its replica online',
      async () => {
        if (!(await healthy())) return false
        for (const node of nodes) {
          if ((await clusterInfo(node.server)).cluster_known_nodes !== '6') return false
        }
        const current = await primaries()
        if (current.length !== size.primaries) return false
        for (const { primary } of current) {
          const replication = await askNode(primary.server.port, (admin) =>
            admin.info('replication'),
          )
          if (!/^slave0:.*state=online/m.test(replication)) return false
        }
        return true
      },
      timeoutMs,
    )

    return {
      nodes,
      seeds: servers.map((server) => `redis://127.0.0.1:${server.port}`),
      primaries,
      async primaryOf(key) {
        const [first] = live()
        if (!first) throw new Error('redis cluster: no node is running')
        const { slot, ranges } = await askNode(first.server.port, async (admin) => ({
          slot: Number(await admin.cluster('KEYSLOT', key)),
          ranges: (await admin.cluster('SLOTS')) as unknown as [
            number,
            number,
            [string, number, string],
          ][],
        }))
        const owner = ranges.find(([low, high]) => slot >= low && slot <= high)?.[2]?.[2]
        const node = owner === undefined ? undefined : byId.get(owner)
        if (!node) throw new Error(`redis cluster: no primary serves slot ${slot}`)
        return node
      },
      async promoted(replica, wait = 20_000) {
        await waitFor(
          `node ${replica.server.port} promoted`,
          async () => {
            const role = await askNode(replica.server.port, (admin) => admin.role())
            if (role[0] !== 'master') return false
            for (const node of live()) {
              const lines = await clusterNodes(node.server)
              const seen = lines.find((line) => line.id === replica.id)
              if (!seen?.flags.includes('master')) return false
            }
            return healthy()
          },
          wait,
        )
      },
      async rejoined(node, wait = 20_000) {
        await waitFor(
          `node ${node.server.port} back as a replica`,
          async () => {
            const replication = await askNode(node.server.port, (admin) =>
              admin.info('replication'),
            )
            if (!/^role:slave/m.test(replication)) return false
            if (!/^master_link_status:up/m.test(replication)) return false
            const port = /^master_port:(\d+)/m.exec(replication)?.[1]
            const primary = nodes.find((n) => String(n.server.port) === port)
            if (!primary) return false
            const seen = await askNode(primary.server.port, (admin) => admin.info('replication'))
            return new RegExp(`port=${node.server.port},state=online`).test(seen)
          },
          wait,
        )
      },
      stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}

function isRunning(server: RedisServer): boolean {
  try {
    return server.pid > 0
  } catch {
    return false
  }
}
