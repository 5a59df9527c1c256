/**
 * Redis down under the money paths that are not a paid request — a cooperative close, and the
 * settler in the middle of a settlement — on a gateway with a Redis ledger and a devnet of its
 * own (the settlement is held in flight by failing receipt reads at the RPC proxy). Both fail
 * closed: 503 `ledger-unavailable` with `Retry-After`, never a 500; the settler logs the outage
 * once at warn, not an error with a stack every poll; and once Redis is back the close and the
 * settlement go through, exactly, on chain and in the ledger.
 */
import { tempo } from 'mppx/client'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { createRedisSettlementStore } from '../../src/ledger/redis/settlement-store.js'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import { devnetInfo, startDevnet, type Devnet, type DevnetKey } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { devnetConfig, memoryLogger, startTestGateway } from '../support/gateway.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { settleTransactions } from '../support/settle-transactions.js'
import { until } from '../support/wait.js'

const price = 10_000n // "0.01" in config/devnet.yaml
const keyPrefix = 'outage:'

type Line = Record<string, unknown>

describe('Redis down during a close and a settlement', () => {
  let devnet: Devnet
  let upstream: ExampleUpstream
  let redis: RedisServer
  let ledger: RedisLedger
  let gateway: Gateway | undefined

  beforeAll(async () => {
    devnet = await startDevnet({ payers: 0 })
    upstream = await startExampleUpstream()
    redis = await startRedisServer({ appendonly: true, appendfsync: 'always' })
    ledger = await createRedisLedger({ url: redis.url, keyPrefix })
  })
  afterEach(async () => {
    devnet.proxy.clearFaults()
    await gateway?.stop()
    gateway = undefined
  })
  afterAll(async () => {
    await ledger.close()
    await redis.stop()
    await upstream.close()
    await devnet.stop()
  })

  async function start(settlement: Record<string, unknown>) {
    const { logger, lines } = memoryLogger()
    gateway = await startTestGateway({
      logger,
      config: devnetConfig({
        devnet: devnetInfo(devnet),
        upstreamUrl: upstream.url,
        edit: (doc) => {
          doc.setIn(['ledger'], {
            type: 'redis',
            redis: { url: redis.url, keyPrefix, requireDurable: true },
          })
          doc.setIn(['session', 'suggestedDeposit'], '1')
          doc.set('settlement', {
            pollIntervalMs: 100,
            receiptTimeoutMs: 3000,
            reconcileIntervalSeconds: 1,
            ...settlement,
          })
        },
      }),
    })
    return { gateway, lines }
  }

  /** A new payer's mppx session; `fetch` is what the client sends its requests with. */
  async function payer(fetch: typeof globalThis.fetch = globalThis.fetch) {
    const [key] = (await devnet.newPayers(1)) as [DevnetKey]
    const client = devnet.clientFor(key.privateKey)
    return { key, session: tempo.session.manager({ client, maxDeposit: '1', fetch }) }
  }

  async function paid(session: { fetch(url: string): Promise<Response> }, url: string) {
    const response = await session.fetch(url)
    const body = await response.text()
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body }
  }

  /** Waits until `call` stops failing: the ledger reconnects by itself once Redis is back. */
  const reachable = (what: string, call: () => Promise<unknown>) =>
    until(what, () =>
      call().then(
        () => true,
        () => undefined,
      ),
    )

  /**
   * A cooperative close made while `breakRedis` is in force: the mppx client pays three requests,
   * then closes; the close must answer 503 `ledger-unavailable` with `Retry-After: 1`. After
   * `mendRedis` the same close credential is sent again — the mppx client counts a close as done
   * once it signed it, so the retry a 503 asks for is made here — and must close exactly.
   */
  async function closeThrough(outage: {
    breakRedis(): Promise<unknown>
    mendRedis(): Promise<unknown>
  }) {
    const { gateway } = await start({ enabled: false })
    const closes: { url: string; authorization: string | null; status: number; body: string }[] = []
    const recording: typeof globalThis.fetch = async (input, init) => {
      const response = await globalThis.fetch(input, init)
      if (init?.method === 'POST') {
        closes.push({
          url: input instanceof Request ? input.url : input.toString(),
          authorization: new Headers(init.headers).get('authorization'),
          status: response.status,
          body: await response.clone().text(),
        })
        expect(response.headers.get('retry-after')).toBe(response.status === 503 ? '1' : null)
      }
      return response
    }
    const { key, session } = await payer(recording)
    const payeeBefore = await devnet.balance(devnet.payee.address)
    const payerBefore = await devnet.balance(key.address)
    for (let i = 0; i < 3; i++) {
      expect((await paid(session, `${gateway.url}/v1/execution/c${i}/results`)).status).toBe(200)
    }
    const channelId = session.channelId!

    await outage.breakRedis()
    try {
      await expect(session.close()).rejects.toThrow(/status 503/)
    } finally {
      await outage.mendRedis()
    }
    expect(closes).toHaveLength(1)
    const [close] = closes as [(typeof closes)[number]]
    expect(close.status).toBe(503)
    expect(JSON.parse(close.body)).toMatchObject({ code: 'ledger-unavailable' })

    await reachable('the gateway to reach Redis again', () => gateway.deps.ledger.ping())
    const retried = await fetch(close.url, {
      method: 'POST',
      headers: { authorization: close.authorization! },
    })
    expect(retried.status).toBe(204)
    const receipt = decodeReceipt(retried.headers.get('payment-receipt')!)
    expect(receipt.txHash).toMatch(/^0x[0-9a-f]{64}$/)
    expect(receipt.spent).toBe(String(3n * price))
    expect(await devnet.balance(devnet.payee.address)).toBe(payeeBefore + 3n * price)
    expect(await devnet.balance(key.address)).toBe(payerBefore - 3n * price)
    expect(await ledger.get(channelId)).toMatchObject({
      status: 'finalized',
      spent: 3n * price,
      settled: 3n * price,
    })
  }

  it('a cooperative close while Redis is down answers 503 ledger-unavailable; after, it closes exactly', async () => {
    await closeThrough({ breakRedis: () => redis.kill9(), mendRedis: () => redis.restart() })
  })

  it('a settlement-store failure inside a close answers 503 ledger-unavailable, never 500', async () => {
    // Redis refuses the gateway the settlement keys only (lock, fence, intent): the close reads
    // and updates the channel, then fails exactly at the store's lock.
    const acl = (...rules: string[]) => ledger.client.call('ACL', 'SETUSER', 'default', ...rules)
    await closeThrough({
      breakRedis: () =>
        acl(
          'resetkeys',
          `~{${keyPrefix}0x*}:ch`,
          `~{${keyPrefix}0x*}:res`,
          `~{${keyPrefix}unsettled:*}`,
        ),
      mendRedis: () => acl('allkeys'),
    })
  })

  it('Redis down while the settler settles: no 500, the outage logged once at warn, the settlement lands exactly after', async () => {
    const { gateway, lines } = await start({ amountThreshold: '0.03' })
    const settlement = gateway.settlement!
    const store = createRedisSettlementStore({ client: ledger.client, keyPrefix })
    const { session } = await payer()
    const payeeBefore = await devnet.balance(devnet.payee.address)
    const url = (i: number) => `${gateway.url}/v1/execution/s${i}/results`
    // The channel's open waits for its receipt: only then do receipts start failing, so the
    // settlement the threshold triggers is broadcast but cannot be recorded.
    expect((await paid(session, url(0))).status).toBe(200)
    devnet.proxy.injectFault({ methods: ['eth_getTransactionReceipt'], kind: 'error', times: 1e6 })
    for (let i = 1; i < 3; i++) expect((await paid(session, url(i))).status).toBe(200)
    const channelId = session.channelId!
    await until('a settle broadcast', async () =>
      settleTransactions(devnet, channelId).size > 0 ? true : undefined,
    )

    // Broadcast, not recorded: the intent is pending (the watcher may fold the chain's figures in).
    expect(await store.intent(channelId)).toMatchObject({ kind: 'settle', cumulative: 3n * price })

    const sinceKill = lines.length
    await redis.kill9()
    devnet.proxy.clearFaults()
    // Rounds of both loops while Redis is down; each joins or starts a round and waits for it.
    for (let round = 0; round < 5; round++) {
      await settlement.settler.runOnce()
      await settlement.watcher.runOnce()
    }
    const down = await paid(session, url(3))
    expect(down.status).toBe(503)
    expect(down.retryAfter).toBe('1')
    expect(JSON.parse(down.body)).toMatchObject({ code: 'ledger-unavailable' })

    const during = lines.slice(sinceKill).filter((l: Line) => l.component === 'settlement')
    const outage = during.filter((l) => l.code === 'ledger-unavailable')
    const warned = outage.filter((l) => l.level === 40)
    // One line per loop: the settler's and the close watcher's.
    expect(warned.map((l) => String(l.msg)).sort()).toEqual([
      expect.stringMatching(/^close watcher round failed: the ledger is unavailable/),
      expect.stringMatching(/the ledger is unavailable; settlement resumes when it returns$/),
    ])
    expect(warned.every((l) => l.err === undefined)).toBe(true)
    // Every later round failed the same way and was logged at debug only.
    expect(outage.filter((l) => l.level === 20).length).toBeGreaterThanOrEqual(5)
    expect(during.filter((l) => (l.level as number) >= 50)).toEqual([])

    await redis.restart()
    const record = await until('the settlement to be recorded', async () => {
      const r = await ledger.get(channelId).catch(() => undefined)
      return r && r.settled === 3n * price ? r : undefined
    })
    expect(record.spent).toBe(3n * price)
    await until('the intent to be cleared', async () =>
      (await store.intent(channelId)) ? undefined : true,
    )
    // One transaction (rebroadcasts of the same bytes count once), and exactly its value moved.
    expect(settleTransactions(devnet, channelId).size).toBe(1)
    expect(await devnet.balance(devnet.payee.address)).toBe(payeeBefore + 3n * price)
    await until('the settler to log its recovery', async () =>
      lines.some((l) => l.msg === 'the ledger is reachable again; settlement resumed')
        ? true
        : undefined,
    )
    expect(lines.filter((l) => l.msg === 'request' && l.status === 500)).toEqual([])
    expect((await fetch(`${gateway.url}/__gateway/readyz`)).status).toBe(200)
  })
})
