/**
 * The Redis ledger under a real gateway: shared by two gateway processes, surviving a gateway
 * kill -9 and a Redis kill -9, and failing closed (503, never 200 or 500) while Redis is down.
 */
import { tempo } from 'mppx/client'
import { recoverTypedDataAddress, type Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import type { ChannelRecord } from '../../src/ledger/port.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import { connectDevnet, type DevnetClient, type DevnetKey } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { devnetConfig, memoryLogger, startTestGateway } from '../support/gateway.js'
import { until } from '../support/wait.js'
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { expectExactCharges } from '../support/charges.js'
import { fetchChallenge, voucherSigner, voucherTypedData } from '../support/vouchers.js'

const price = 10_000n
const paidPath = '/v1/execution/r/results'

describe('the Redis ledger under real gateways', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let redis: RedisServer
  let ledger: RedisLedger

  const redisEdit = (doc: { setIn(path: unknown[], value: unknown): void }) => {
    doc.setIn(['ledger'], {
      type: 'redis',
      redis: { url: redis.url, keyPrefix: 'e2e:', requireDurable: true },
    })
    doc.setIn(['session', 'suggestedDeposit'], '5')
    doc.setIn(['settlement', 'enabled'], false)
  }

  beforeAll(async () => {
    devnet = connectDevnet(inject('devnet'))
    upstream = await startExampleUpstream()
    redis = await startRedisServer({ appendonly: true, appendfsync: 'always' })
    ledger = await createRedisLedger({ url: redis.url, keyPrefix: 'e2e:' })
  })
  afterAll(async () => {
    await ledger.close()
    await redis.stop()
    await upstream.close()
  })

  /** Opens a channel through `url` with the real mppx client (one paid request). */
  async function openChannel(url: string) {
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const client = devnet.clientFor(payer.privateKey)
    const session = tempo.session.manager({ client, maxDeposit: '5' })
    expect((await session.fetch(`${url}${paidPath}`)).status).toBe(200)
    const record = (await ledger.get(session.channelId!))!
    const signer = voucherSigner({
      payerKey: payer.privateKey,
      chainId: devnet.chainId,
      escrow: devnet.escrow,
      channelId: record.channelId,
      descriptor: record.descriptor,
      challenge: await fetchChallenge(`${url}${paidPath}`),
    })
    return { payer, session, record, signer }
  }

  const pay = (url: string, authorization: string) =>
    fetch(`${url}${paidPath}`, { headers: { authorization } }).then(async (r) => ({
      status: r.status,
      receipt: r.headers.get('payment-receipt'),
      retryAfter: r.headers.get('retry-after'),
      body: await r.text(),
    }))

  /** Reads a record, waiting (bounded) for the test's own connection to come back after a restart. */
  async function readAfterReconnect(channelId: Hex): Promise<ChannelRecord> {
    const deadline = Date.now() + 10_000
    for (;;) {
      try {
        const record = await ledger.get(channelId)
        if (record) return record
        throw new Error('channel missing after restart')
      } catch (error) {
        if (Date.now() > deadline) throw error
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }

  async function expectSignatureOf(record: ChannelRecord, payer: Hex) {
    const signer = await recoverTypedDataAddress({
      ...voucherTypedData({
        chainId: devnet.chainId,
        escrow: devnet.escrow,
        channelId: record.channelId,
        cumulative: record.accepted.cumulative,
      }),
      signature: record.accepted.signature,
    })
    expect(signer.toLowerCase()).toBe(payer.toLowerCase())
  }

  describe('two gateway processes on one Redis', () => {
    let a: GatewayProcess
    let b: GatewayProcess
    beforeAll(async () => {
      ;[a, b] = await Promise.all([
        startGatewayProcess({ devnet, upstreamUrl: upstream.url, edit: redisEdit }),
        startGatewayProcess({ devnet, upstreamUrl: upstream.url, edit: redisEdit }),
      ])
    })
    afterAll(async () => {
      await Promise.all([a.stop(), b.stop()])
    })

    it('100 racing paid requests over both: every 200 is covered, spent is exact', async () => {
      const { record, signer } = await openChannel(a.url)
      const start = record.accepted.cumulative
      const seenBefore = upstream.seen.length
      const credentials = await Promise.all(
        Array.from({ length: 100 }, (_, i) => signer.credential(start + BigInt(i + 1) * price)),
      )
      const results = await Promise.all(
        credentials.map((c, i) => pay(i % 2 === 0 ? a.url : b.url, c)),
      )
      expectExactCharges({
        answers: results,
        record: (await ledger.get(record.channelId))!,
        start,
        price,
        forwarded: upstream.seen.length - seenBefore,
      })
    })

    it('a voucher replayed 20 times across both is accepted and charged once', async () => {
      const { record, signer } = await openChannel(b.url)
      const next = record.accepted.cumulative + price
      const one = await signer.credential(next)
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => pay(i % 2 === 0 ? a.url : b.url, one)),
      )
      expect(results.filter((r) => r.status === 200)).toHaveLength(1)
      expect(await ledger.get(record.channelId)).toMatchObject({
        spent: next,
        units: 2,
        accepted: { cumulative: next },
      })
    })
  })

  it('a gateway killed -9 under load loses no voucher it answered, and the mppx session goes on', async () => {
    let gw = await startGatewayProcess({ devnet, upstreamUrl: upstream.url, edit: redisEdit })
    const { payer, session } = await openChannel(gw.url)
    const answered: bigint[] = []
    let killed = false
    const load = (async () => {
      for (let i = 0; i < 200 && !killed; i++) {
        try {
          const response = await session.fetch(`${gw.url}/v1/execution/k${i}/results`)
          if (response.status === 200)
            answered.push(
              BigInt(
                decodeReceipt(response.headers.get('payment-receipt')!)
                  .acceptedCumulative as string,
              ),
            )
          await response.arrayBuffer()
        } catch {
          return
        }
      }
    })()
    await new Promise((r) => setTimeout(r, 400))
    await gw.kill9()
    killed = true
    await load
    expect(answered.length).toBeGreaterThan(0)

    gw = await startGatewayProcess({ devnet, upstreamUrl: upstream.url, edit: redisEdit })
    try {
      const record = (await ledger.get(session.channelId!))!
      expect(record.accepted.cumulative).toBeGreaterThanOrEqual(answered.at(-1)!)
      await expectSignatureOf(record, payer.address)
      for (let i = 0; i < 3; i++) {
        const response = await session.fetch(`${gw.url}/v1/execution/after${i}/results`)
        expect(response.status).toBe(200)
        await response.arrayBuffer()
      }
      expect((await ledger.get(session.channelId!))!.spent).toBeGreaterThan(record.spent)
    } finally {
      await gw.stop()
    }
  })

  describe('Redis down', () => {
    let gateway: Gateway
    beforeAll(async () => {
      gateway = await startTestGateway({
        config: devnetConfig({ devnet, upstreamUrl: upstream.url, edit: (doc) => redisEdit(doc) }),
      })
    })
    afterAll(async () => {
      await gateway.stop()
    })

    it('paid requests get 503 with Retry-After (never 200, never 500), free ones work, readiness follows, recovery is automatic', async () => {
      const { record, signer } = await openChannel(gateway.url)
      let next = record.accepted.cumulative
      const seenBefore = upstream.seen.length

      await redis.kill9()
      next += price
      const down = await pay(gateway.url, await signer.credential(next))
      expect(down.status).toBe(503)
      expect(down.retryAfter).toBeTruthy()
      expect(JSON.parse(down.body)).toMatchObject({ code: 'ledger-unavailable' })
      expect(upstream.seen.length).toBe(seenBefore)
      expect((await fetch(`${gateway.url}/v1/execution/x/status`)).status).toBe(200)
      expect((await fetch(`${gateway.url}/__gateway/readyz`)).status).toBe(503)

      await redis.restart()
      const deadline = Date.now() + 10_000
      let recovered = 0
      while (Date.now() < deadline) {
        next += price
        recovered = (await pay(gateway.url, await signer.credential(next))).status
        if (recovered === 200) break
        await new Promise((r) => setTimeout(r, 200))
      }
      expect(recovered).toBe(200)
      expect((await fetch(`${gateway.url}/__gateway/readyz`)).status).toBe(200)
    })

    it('Redis killed -9 under load (AOF always): no answered voucher is lost; the outage answers 503 only', async () => {
      const { record, signer } = await openChannel(gateway.url)
      let next = record.accepted.cumulative
      const statuses: number[] = []
      const answered: bigint[] = []
      const deadline = Date.now() + 20_000
      // The load loop signals the two moments the test waits on: some vouchers answered before the
      // crash, and the first 503 of the outage. Redis is restarted only after the outage was seen.
      let warmedUp!: () => void
      let outageSeen!: () => void
      const warm = new Promise<void>((r) => (warmedUp = r))
      const outage = new Promise<void>((r) => (outageSeen = r))
      let crashed = false
      const load = (async () => {
        while (Date.now() < deadline && statuses.length < 5_000) {
          next += price
          const r = await pay(gateway.url, await signer.credential(next))
          statuses.push(r.status)
          if (r.status === 200)
            answered.push(BigInt(decodeReceipt(r.receipt!).acceptedCumulative as string))
          if (answered.length === 20) warmedUp()
          if (crashed && r.status === 503) outageSeen()
          if (crashed && r.status === 200 && statuses.includes(503)) return
        }
        warmedUp()
        outageSeen()
      })()
      await warm
      const beforeCrash = answered.length
      await redis.kill9()
      crashed = true
      await outage
      await redis.restart()
      await load

      expect(beforeCrash).toBeGreaterThan(0)
      expect(statuses).toContain(503)
      expect(statuses.every((s) => s === 200 || s === 503)).toBe(true)
      expect(statuses.at(-1)).toBe(200)
      const after = await readAfterReconnect(record.channelId)
      expect(after.accepted.cumulative).toBeGreaterThanOrEqual(answered.at(-1)!)
      expect(after.spent).toBeGreaterThanOrEqual(record.spent + BigInt(answered.length) * price)
    })
  })

  describe('Redis frozen', () => {
    let gateway: Gateway
    const log = memoryLogger()
    beforeAll(async () => {
      gateway = await startTestGateway({
        config: devnetConfig({ devnet, upstreamUrl: upstream.url, edit: (doc) => redisEdit(doc) }),
        logger: log.logger,
      })
    })
    afterAll(async () => {
      upstream.script(undefined)
      await gateway.stop()
    })

    it('frozen for 3 s under paid load: no request is both charged and answered with an error', async () => {
      // Three channels, one sequential payer each, every answer 150 ms late at the upstream: when
      // Redis freezes, some requests wait on their voucher step and some on their commit.
      const [late, ...channels] = await Promise.all(
        [0, 1, 2, 3].map(() => openChannel(gateway.url)),
      )
      upstream.script(() => ({ kind: 'delay', ms: 150 }))
      let thawed = false
      let stop = false
      const answers = channels.map(() => [] as { status: number; thawed: boolean }[])
      const runs = channels.map(async ({ record, signer }, i) => {
        let next = record.accepted.cumulative
        const mine = answers[i]!
        const deadline = Date.now() + 20_000
        while (!stop && Date.now() < deadline && mine.length < 200) {
          next += price
          const answer = await pay(gateway.url, await signer.credential(next))
          mine.push({ status: answer.status, thawed })
          if (answer.status === 503) {
            expect(answer.receipt).toBeNull()
            expect(JSON.parse(answer.body)).toMatchObject({ code: 'ledger-unavailable' })
          } else {
            expect(answer.receipt).toBeTruthy()
          }
        }
      })
      await until('requests to flow', async () => (upstream.seen.length > 6 ? true : undefined))
      redis.freeze()
      const frozenAt = Date.now()
      // A request arriving while Redis is frozen waits on its voucher step, which times out.
      const lateAnswer = await pay(
        gateway.url,
        await late!.signer.credential(late!.record.accepted.cumulative + price),
      )
      expect(lateAnswer.status).toBe(503)
      expect(JSON.parse(lateAnswer.body)).toMatchObject({ code: 'ledger-unavailable' })
      // The freeze's length is the scenario itself: longer than the ledger's 2 s command time-out.
      await new Promise((r) => setTimeout(r, Math.max(0, frozenAt + 3_000 - Date.now())))
      redis.thaw()
      thawed = true
      await until('every payer to be served again after the thaw', async () =>
        answers.every((mine) => mine.some((a) => a.thawed && a.status === 200)) ? true : undefined,
      )
      await until('every unknown commit to be resolved', async () =>
        gateway.deps.unresolved.size() === 0 ? true : undefined,
      )
      stop = true
      await Promise.all(runs)

      const statuses = answers.flat().map((a) => a.status)
      expect(statuses.every((s) => s === 200 || s === 503)).toBe(true)
      // The late request's voucher step ran when Redis resumed; its reservation charges nothing.
      expect((await readAfterReconnect(late!.record.channelId)).spent).toBe(late!.record.spent)
      // Some answers waited on a commit Redis could not confirm (retried, or delivered first).
      const unsure = log.lines.filter(
        (l) => l.msg === 'request' && (l.charge === 'unknown' || (l.durationMs as number) > 1_900),
      )
      expect(unsure.length).toBeGreaterThan(0)
      for (const [i, { record }] of channels.entries()) {
        const served = BigInt(answers[i]!.filter((a) => a.status === 200).length)
        const after = await readAfterReconnect(record.channelId)
        // Every 200 was charged once and nothing else was: a 503 is never charged.
        expect(after.spent).toBe(record.spent + served * price)
      }
      expect(log.lines.filter((l) => l.level === 50)).toEqual([])
    })
  })
})
