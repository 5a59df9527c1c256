/**
 * A sick chain RPC (issue 9, rows d and e), on the shared devnet behind an RPC proxy of this
 * suite's own that can hang or fail chosen methods (clients pay through the devnet's proxy, which
 * stays healthy). While the RPC hangs a paid request is answered within a generous bound — a
 * liveness property — and only the first one waits for the chain; opens are refused at once;
 * readiness says degraded, and not-ready when the ledger goes too; the close watcher's failures
 * are logged once, as a short line. No error-level line is logged.
 */
import { tempo } from 'mppx/client'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import {
  connectDevnet,
  nonceHashSlot,
  type DevnetClient,
  type DevnetKey,
} from '../devnet/devnet.js'
import { startRpcProxy, type RpcProxy } from '../devnet/rpc-proxy.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { devnetConfig, memoryLogger, startTestGateway } from '../support/gateway.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { until, holdsConfirmed } from '../support/wait.js'

const paidPath = '/v1/execution/x/results'
/** Liveness bound for a paid request while the chain misbehaves. */
const answeredWithinMs = 3_000
const chainMethods = ['eth_call', 'eth_blockNumber', 'eth_getLogs', 'eth_getBlockByNumber']

describe('a sick chain RPC', () => {
  let devnet: DevnetClient
  let proxy: RpcProxy
  let upstream: ExampleUpstream
  let redis: RedisServer
  let gateway: Gateway | undefined
  let lines: Record<string, unknown>[]

  beforeAll(async () => {
    devnet = connectDevnet(inject('devnet'))
    proxy = await startRpcProxy({ upstream: devnet.rpcUrl, escrow: devnet.escrow, nonceHashSlot })
    upstream = await startExampleUpstream()
    redis = await startRedisServer()
  })
  afterEach(async () => {
    proxy.clearFaults()
    await gateway?.stop()
    gateway = undefined
  })
  afterAll(async () => {
    await proxy.close()
    await upstream.close()
    await redis.stop()
  })

  async function start(chain: Record<string, number>, settlement: Record<string, unknown>) {
    const memory = memoryLogger()
    lines = memory.lines
    gateway = await startTestGateway({
      config: devnetConfig({
        devnet,
        upstreamUrl: upstream.url,
        // The gateway reads the chain through this suite's proxy; payers use the devnet's own.
        extraEnv: { DEVNET_RPC_URL: proxy.url },
        edit: (doc) => {
          for (const [key, value] of Object.entries(chain)) doc.setIn(['chain', key], value)
          doc.set('settlement', settlement)
          doc.set('ledger', { type: 'redis', redis: { url: redis.url, keyPrefix: 'sick:' } })
        },
      }),
      logger: memory.logger,
    })
    return gateway
  }

  async function payer() {
    const [key] = (await devnet.newPayers(1)) as [DevnetKey]
    return tempo.session.manager({ client: devnet.clientFor(key.privateKey), maxDeposit: '1' })
  }

  /** One paid request through mppx: its status, problem code (if any) and how long it took. */
  async function timedFetch(session: Awaited<ReturnType<typeof payer>>, url: string) {
    const started = Date.now()
    const response = await session.fetch(url)
    const text = await response.text()
    const problem = response.headers.get('content-type') === 'application/problem+json'
    return {
      status: response.status,
      code: problem ? (JSON.parse(text) as { code: string }).code : undefined,
      ms: Date.now() - started,
    }
  }

  const errorLines = () => lines.filter((line) => (line.level as number) >= 50)
  const callsOf = (method: string, from: number) =>
    proxy.calls.slice(from).filter((call) => call.method === method).length
  const readiness = async (url: string) => {
    const response = await fetch(`${url}/__gateway/readyz`)
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  }

  it('d: a hanging RPC costs the first paid request its read deadline, the others nothing', async () => {
    const gw = await start(
      // Every paid request wants a fresh chain read.
      { stateTtlMs: 0, readTimeoutMs: 300, readFailureTtlMs: 30_000 },
      { enabled: false },
    )
    const session = await payer()
    expect((await timedFetch(session, `${gw.url}${paidPath}`)).status).toBe(200)
    const channelId = session.channelId as `0x${string}`
    await holdsConfirmed(gw.deps.ledger, channelId)
    const before = (await gw.deps.ledger.get(channelId))!

    const from = proxy.calls.length
    proxy.injectFault({ methods: ['eth_call'], kind: 'hang', times: 1_000, holdMs: 60_000 })
    const answers = []
    for (let i = 0; i < 5; i++) answers.push(await timedFetch(session, `${gw.url}${paidPath}`))
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200])
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(answeredWithinMs)
    // One read reached the sick RPC; the failure was remembered for the others.
    expect(callsOf('eth_call', from)).toBe(1)
    const after = (await gw.deps.ledger.get(channelId))!
    expect(after.spent - before.spent).toBe(5n * 10_000n)

    // An open is refused at once, and nothing is broadcast.
    const fresh = await payer()
    const open = await timedFetch(fresh, `${gw.url}${paidPath}`)
    expect(open.ms).toBeLessThan(answeredWithinMs)
    expect(open).toMatchObject({ status: 503, code: 'chain-unavailable' })
    expect(
      callsOf('eth_sendRawTransaction', from) + callsOf('eth_sendRawTransactionSync', from),
    ).toBe(0)

    expect((await readiness(gw.url)).body).toEqual({
      status: 'degraded',
      reasons: ['chain unreachable'],
    })
    const chainLines = lines.filter((line) => line.component === 'chain')
    expect(chainLines.map((line) => line.msg)).toEqual(['chain reads failing'])
    expect(errorLines()).toEqual([])
  })

  it('e: readiness tells ready, degraded and not-ready apart; watcher failures are logged once', async () => {
    const gw = await start(
      { readTimeoutMs: 300, readFailureTtlMs: 500 },
      { pollIntervalMs: 50, reconcileIntervalSeconds: 1 },
    )
    expect(await readiness(gw.url)).toEqual({ status: 200, body: { status: 'ready', reasons: [] } })
    const session = await payer()
    expect((await timedFetch(session, `${gw.url}${paidPath}`)).status).toBe(200)

    const from = proxy.calls.length
    proxy.injectFault({ methods: chainMethods, kind: 'error', times: 100_000 })
    const degraded = await until('readiness to say degraded', async () => {
      const now = await readiness(gw.url)
      return now.body.status === 'degraded' ? now : undefined
    })
    expect(degraded).toEqual({
      status: 200,
      body: { status: 'degraded', reasons: ['chain unreachable'] },
    })
    // Vouchers are still served from the ledger.
    const paid = await timedFetch(session, `${gw.url}${paidPath}`)
    expect(paid.status).toBe(200)
    expect(paid.ms).toBeLessThan(answeredWithinMs)

    // Many failed watcher rounds (each starts with eth_blockNumber), one line about them.
    await until('twenty failed watcher rounds', async () =>
      callsOf('eth_blockNumber', from) >= 20 ? true : undefined,
    )
    const watcherLines = lines.filter((line) => String(line.msg).startsWith('close watcher round'))
    expect(watcherLines.map((line) => line.msg)).toEqual(['close watcher round failing'])
    for (const line of lines) {
      const text = JSON.stringify(line)
      expect(text.length, text.slice(0, 200)).toBeLessThan(1_000)
      expect(line).not.toHaveProperty('err')
      expect(text).not.toMatch(/"abi"|\n {4}at /)
    }

    // The ledger going away makes it not ready at all.
    redis.freeze()
    try {
      expect(await readiness(gw.url)).toEqual({
        status: 503,
        body: { status: 'not-ready', reasons: ['ledger unreachable', 'chain unreachable'] },
      })
    } finally {
      redis.thaw()
    }

    proxy.clearFaults()
    await until('readiness to recover', async () =>
      (await readiness(gw.url)).body.status === 'ready' ? true : undefined,
    )
    await until('the watcher to recover', async () =>
      lines.some((line) => line.msg === 'close watcher round recovered') ? true : undefined,
    )
    expect(errorLines()).toEqual([])
  })
})
