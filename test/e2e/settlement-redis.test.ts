/**
 * Settlement across processes on a shared Redis: a settler killed -9 between broadcast and
 * record is reconciled after restart (settled once, recorded once), and two gateway instances
 * with settlers on never both settle the same channel.
 */
import { tempo } from 'mppx/client'
import { type Hex } from 'viem'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { escrowAbi } from '../../src/chain/escrow-abi.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { createRedisSettlementStore } from '../../src/ledger/redis/settlement-store.js'
import { devnetInfo, startDevnet, type Devnet, type DevnetKey } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { settleTransactions } from '../support/settle-transactions.js'
import { until } from '../support/wait.js'
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'

const price = 10_000n

describe('settlement on a shared Redis', () => {
  let devnet: Devnet
  let upstream: ExampleUpstream
  let redis: RedisServer
  let ledger: RedisLedger
  const processes: GatewayProcess[] = []

  const edit =
    (settlement: Record<string, unknown>) =>
    (doc: { setIn(path: unknown[], value: unknown): void }) => {
      doc.setIn(['ledger'], { type: 'redis', redis: { url: redis.url, keyPrefix: 'settle:' } })
      doc.setIn(['session', 'suggestedDeposit'], '5')
      doc.setIn(['settlement'], {
        pollIntervalMs: 100,
        receiptTimeoutMs: 3000,
        reconcileIntervalSeconds: 1,
        ...settlement,
      })
    }

  beforeAll(async () => {
    devnet = await startDevnet({ payers: 0 })
    upstream = await startExampleUpstream({ record: false })
    redis = await startRedisServer({ appendonly: true, appendfsync: 'always' })
    ledger = await createRedisLedger({ url: redis.url, keyPrefix: 'settle:' })
  })
  afterEach(async () => {
    devnet.proxy.clearFaults()
    await Promise.all(processes.splice(0).map((p) => p.stop()))
  })
  afterAll(async () => {
    await ledger.close()
    await redis.stop()
    await upstream.close()
    await devnet.stop()
  })

  async function start(spec: { settlement: Record<string, unknown>; command?: 'run' | 'settle' }) {
    const p = await startGatewayProcess({
      devnet: devnetInfo(devnet),
      upstreamUrl: upstream.url,
      edit: edit(spec.settlement),
      ...(spec.command ? { command: spec.command } : {}),
    })
    processes.push(p)
    return p
  }

  async function paidChannel(url: string, requests: number): Promise<Hex> {
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const client = devnet.clientFor(payer.privateKey)
    const session = tempo.session.manager({ client, maxDeposit: '5' })
    for (let i = 0; i < requests; i++) {
      const response = await session.fetch(`${url}/v1/execution/s${i}/results`)
      expect(response.status).toBe(200)
      await response.arrayBuffer()
    }
    return session.channelId!
  }

  const settledEvents = (channelId: Hex) =>
    devnet.publicClient.getContractEvents({
      address: devnet.escrow,
      abi: escrowAbi,
      eventName: 'Settled',
      args: { channelId },
      fromBlock: 0n,
    })

  it('a settler killed -9 between broadcast and record is reconciled after restart: settled once, recorded once', async () => {
    const gateway = await start({ settlement: { enabled: false } })
    const channelId = await paidChannel(gateway.url, 4)
    expect((await ledger.get(channelId))!.settled).toBe(0n)

    // The settler broadcasts, then never sees a receipt: it is killed while it waits.
    devnet.proxy.injectFault({
      methods: ['eth_getTransactionReceipt'],
      kind: 'hang',
      times: 1_000,
      holdMs: 20_000,
    })
    const settler = await start({
      command: 'settle',
      settlement: { amountThreshold: '0.01', receiptTimeoutMs: 60_000, lockTtlMs: 2_000 },
    })
    await until('a settle broadcast', async () =>
      settleTransactions(devnet, channelId).size > 0 ? true : undefined,
    )
    await until('the settle to be mined', async () =>
      (await settledEvents(channelId)).length > 0 ? true : undefined,
    )
    await settler.kill9()
    processes.splice(processes.indexOf(settler), 1)
    // Killed between broadcast and record: its intent is still pending. (Its close watcher may
    // already have folded the Settled event into the ledger; that is recording, not settling.)
    const store = createRedisSettlementStore({ client: ledger.client, keyPrefix: 'settle:' })
    const intent = await store.intent(channelId)
    expect(intent).toMatchObject({ kind: 'settle', cumulative: 4n * price })
    devnet.proxy.clearFaults()

    // The dead settler's lock lapses after its TTL; then the new one takes the channel over.
    await start({ command: 'settle', settlement: { amountThreshold: '0.01', lockTtlMs: 2_000 } })
    const record = await until('the settlement to be recorded', async () => {
      const r = await ledger.get(channelId)
      return r && r.settled === 4n * price ? r : undefined
    })
    expect(record.spent).toBe(4n * price)
    expect(await settledEvents(channelId)).toHaveLength(1)
    expect(settleTransactions(devnet, channelId).size).toBe(1)
    await until('the intent to be cleared', async () =>
      (await store.intent(channelId)) ? undefined : true,
    )
  }, 90_000)

  it('two gateway instances with settlers on: each settlement is made by exactly one of them', async () => {
    const settings = { amountThreshold: '0.03' }
    const [a, b] = [await start({ settlement: settings }), await start({ settlement: settings })]
    const channels = await Promise.all([
      paidChannel(a.url, 7),
      paidChannel(b.url, 7),
      paidChannel(a.url, 5),
    ])
    for (const channelId of channels) {
      await until(`settlement of ${channelId}`, async () => {
        const r = await ledger.get(channelId)
        // Settled, and what is left unsettled is below the threshold (nothing more is due).
        return r && r.settled > 0n && r.spent - r.settled < 30_000n ? r : undefined
      })
    }
    for (const channelId of channels) {
      const events = await settledEvents(channelId)
      // Every settle transaction sent landed as a settlement: no instance duplicated another's.
      expect(settleTransactions(devnet, channelId).size).toBe(events.length)
      const amounts = events.map((e) => e.args.newSettled!)
      expect([...amounts].sort((x, y) => (x < y ? -1 : 1))).toEqual(amounts)
      expect(new Set(amounts).size).toBe(amounts.length)
      // A settler writes the ledger before its log line: wait for the lines, not just the ledger.
      const logged = () =>
        [a, b].reduce(
          (sum, p) =>
            sum +
            p.lines.filter((l) => l.msg === 'channel settled' && l.channelId === channelId).length,
          0,
        )
      await until(`the settlement lines of ${channelId}`, async () =>
        logged() >= events.length ? true : undefined,
      )
      expect(logged()).toBe(events.length)
    }
  }, 90_000)
})
