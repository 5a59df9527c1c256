/**
 * The Redis ledger on a Redis Cluster under real gateways (one cluster of three primaries and
 * three replicas for the whole file, real redis-server processes on loopback): two gateway
 * processes and the real mppx client paying on channels spread over every primary; two settler
 * processes settling those channels, each settlement made by exactly one; then a primary killed
 * -9 under paid load with `minReplicas: 1`.
 */
import { tempo } from 'mppx/client'
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { escrowAbi } from '../../src/chain/escrow-abi.js'
import { redisKeys } from '../../src/ledger/redis/keys.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import { connectDevnet, type DevnetClient } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js'
import { startRedisCluster, type ClusterNode, type RedisCluster } from '../support/redis-cluster.js'
import { until, holdsConfirmed } from '../support/wait.js'

const price = 10_000n
const keyPrefix = 'e2e:'
const keys = redisKeys(keyPrefix)

/** One paying client: its mppx session on one channel. */
type Payer = {
  readonly session: ReturnType<typeof tempo.session.manager>
  readonly channelId: Hex
  /** The primary that holds the channel when it was opened. */
  readonly home: ClusterNode
}

/** What one paid request got. */
type Answer = { status: number; acceptedCumulative?: bigint; spent?: bigint; error?: unknown }

describe('the Redis ledger on a Redis Cluster under real gateways', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let cluster: RedisCluster
  let ledger: RedisLedger
  let a: GatewayProcess
  let b: GatewayProcess
  const payers: Payer[] = []
  let edit: (doc: { setIn(path: unknown[], value: unknown): void }) => void

  beforeAll(async () => {
    devnet = connectDevnet(inject('devnet'))
    ;[upstream, cluster] = await Promise.all([startExampleUpstream(), startRedisCluster()])
    edit = (doc) => {
      doc.setIn(['ledger'], {
        type: 'redis',
        redis: { cluster: { nodes: cluster.seeds }, keyPrefix, minReplicas: 1 },
      })
      doc.setIn(['session', 'suggestedDeposit'], '5')
      doc.setIn(['settlement', 'enabled'], false)
    }
    ;[ledger, a, b] = await Promise.all([
      createRedisLedger({ cluster: { nodes: cluster.seeds }, keyPrefix }),
      startGatewayProcess({ devnet, upstreamUrl: upstream.url, edit }),
      startGatewayProcess({ devnet, upstreamUrl: upstream.url, edit }),
    ])
  })
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await ledger?.close()
    await Promise.all([cluster?.stop(), upstream?.close()])
  })

  /** Opens channels with the real mppx client until every primary holds at least two. */
  async function openSpreadChannels() {
    const perPrimary = new Map<string, number>()
    const spread = () =>
      perPrimary.size === 3 && [...perPrimary.values()].every((count) => count >= 2)
    for (let i = 0; i < 24 && !spread(); i += 4) {
      const keysOf = await devnet.newPayers(4)
      const opened = await Promise.all(
        keysOf.map(async (key) => {
          const session = tempo.session.manager({
            client: devnet.clientFor(key.privateKey),
            maxDeposit: '5',
          })
          const response = await session.fetch(`${a.url}/v1/execution/open/results`)
          expect(response.status).toBe(200)
          await response.arrayBuffer()
          const channelId = session.channelId!
          return { session, channelId, home: await cluster.primaryOf(keys.channel(channelId)) }
        }),
      )
      for (const payer of opened) {
        payers.push(payer)
        perPrimary.set(payer.home.id, (perPrimary.get(payer.home.id) ?? 0) + 1)
      }
    }
    expect(spread()).toBe(true)
  }

  /** One paid request through `url` with the payer's mppx session. */
  async function pay(payer: Payer, url: string): Promise<Answer> {
    const response = await payer.session.fetch(url)
    await response.arrayBuffer()
    const header = response.headers.get('payment-receipt')
    if (response.status !== 200 || header === null) return { status: response.status }
    const receipt = decodeReceipt(header)
    return {
      status: 200,
      acceptedCumulative: BigInt(receipt.acceptedCumulative as string),
      spent: BigInt(receipt.spent as string),
    }
  }

  it('two gateways, mppx paying on channels over every primary: spent exact, every 200 covered', async () => {
    await openSpreadChannels()
    await Promise.all(payers.map((p) => holdsConfirmed(ledger, p.channelId)))
    const before = await Promise.all(payers.map((p) => ledger.get(p.channelId)))
    const seenBefore = upstream.seen.length
    const rounds = 12
    const answers = await Promise.all(
      payers.map(async (payer, j) => {
        const mine: Answer[] = []
        for (let i = 0; i < rounds; i += 1) {
          const gateway = (i + j) % 2 === 0 ? a : b
          mine.push(await pay(payer, `${gateway.url}/v1/execution/c${j}-${i}/results`))
        }
        return mine
      }),
    )
    let served = 0
    for (const [j, payer] of payers.entries()) {
      const mine = answers[j]!
      expect(mine.map((answer) => answer.status)).toEqual(mine.map(() => 200))
      served += mine.length
      const record = (await ledger.get(payer.channelId))!
      expect(record.spent).toBe(before[j]!.spent + BigInt(rounds) * price)
      expect(record.units).toBe(before[j]!.units + rounds)
      expect(record.accepted.cumulative).toBeGreaterThanOrEqual(record.spent)
      for (const answer of mine) {
        expect(answer.acceptedCumulative!).toBeGreaterThanOrEqual(answer.spent!)
        expect(record.accepted.cumulative).toBeGreaterThanOrEqual(answer.acceptedCumulative!)
      }
    }
    expect(upstream.seen.length - seenBefore).toBe(served)
  })

  it('two settler processes on the cluster settle every channel, each settlement made by one of them', async () => {
    expect(payers.length).toBeGreaterThanOrEqual(6)
    const settlerEdit = (doc: { setIn(path: unknown[], value: unknown): void }) => {
      edit(doc)
      doc.setIn(['settlement'], {
        amountThreshold: '0.01',
        pollIntervalMs: 100,
        reconcileIntervalSeconds: 1,
      })
    }
    const settlers = await Promise.all(
      [0, 1].map(() =>
        startGatewayProcess({
          devnet,
          upstreamUrl: upstream.url,
          edit: settlerEdit,
          command: 'settle',
        }),
      ),
    )
    try {
      for (const payer of payers) {
        await until(
          `settlement of ${payer.channelId}`,
          async () => {
            const record = await ledger.get(payer.channelId)
            return record && record.settled === record.spent ? record : undefined
          },
          60_000,
        )
      }
      for (const payer of payers) {
        const record = (await ledger.get(payer.channelId))!
        const events = await devnet.publicClient.getContractEvents({
          address: devnet.escrow,
          abi: escrowAbi,
          eventName: 'Settled',
          args: { channelId: payer.channelId },
          fromBlock: 0n,
        })
        const amounts = events.map((event) => event.args.newSettled!)
        // Never the same amount twice, always rising, ending at exactly the spent value.
        expect(new Set(amounts).size).toBe(amounts.length)
        expect([...amounts].sort((x, y) => (x < y ? -1 : 1))).toEqual(amounts)
        expect(amounts.at(-1)).toBe(record.spent)
        const logged = () =>
          settlers.reduce(
            (sum, p) =>
              sum +
              p.lines.filter((l) => l.msg === 'channel settled' && l.channelId === payer.channelId)
                .length,
            0,
          )
        await until(`the settlement lines of ${payer.channelId}`, async () =>
          logged() >= events.length ? true : undefined,
        )
        expect(logged()).toBe(events.length)
      }
      // The unsettled index lives on other slots than the channels: its entry goes in a command
      // sent once the settle's script answered, so it may trail the channel record briefly.
      await until('an empty unsettled index', async () =>
        (await ledger.listUnsettled(1_000)).length === 0 ? true : undefined,
      )
    } finally {
      await Promise.all(settlers.map((settler) => settler.stop()))
    }
  })

  it('a primary killed -9 under load (minReplicas 1): its replica is promoted, only 200 or 503, no answered voucher lost', async () => {
    expect(payers.length).toBeGreaterThanOrEqual(6)
    const victim = payers[0]!.home
    const replica = (await cluster.primaries()).find((p) => p.primary.id === victim.id)?.replica
    expect(replica).toBeDefined()

    // before: all healthy; down: the primary is dead; alone: its replica took over but has no
    // replica of its own, so minReplicas 1 cannot be met there; rejoining: the old primary is
    // restarting; after: it is back, as the new primary's replica.
    type Phase = 'before' | 'down' | 'alone' | 'rejoining' | 'after'
    const answers = payers.map(() => [] as (Answer & { phase: Phase; ended: Phase })[])
    let phase: Phase = 'before'
    let stop = false
    // Each payer sends at most `perPhase` requests in a phase, then waits for the next one: a
    // fast phase (503s come at once) never uses up the requests the later phases need.
    const perPhase = 50
    let phaseChanged = () => {}
    let nextPhase = new Promise<void>((resolve) => (phaseChanged = resolve))
    const enter = (next: Phase) => {
      phase = next
      const changed = phaseChanged
      nextPhase = new Promise<void>((resolve) => (phaseChanged = resolve))
      changed()
    }
    let stopLoad = () => {}
    const stopped = new Promise<void>((resolve) => (stopLoad = resolve))
    const signals = { warm: () => {}, alone: () => {}, back: () => {} }
    const warm = new Promise<void>((resolve) => (signals.warm = resolve))
    const alone = new Promise<void>((resolve) => (signals.alone = resolve))
    const back = new Promise<void>((resolve) => (signals.back = resolve))
    const servedIn = (which: Phase) =>
      answers.map((mine) => mine.filter((x) => x.phase === which && x.status === 200).length)
    const check = () => {
      if (servedIn('before').every((n) => n >= 3)) signals.warm()
      const victims = payers.flatMap((p, j) => (p.home.id === victim.id ? [answers[j]!] : []))
      if (victims.every((mine) => mine.some((x) => x.phase === 'alone' && x.status === 503))) {
        signals.alone()
      }
      if (servedIn('after').every((n) => n >= 3)) signals.back()
    }
    const deadline = Date.now() + 45_000
    const load = Promise.all(
      payers.map(async (payer, j) => {
        const sent = new Map<Phase, number>()
        for (let i = 0; i < 300 && !stop && Date.now() < deadline; i += 1) {
          const gateway = (i + j) % 2 === 0 ? a : b
          const at = phase
          if ((sent.get(at) ?? 0) >= perPhase) {
            const left = Math.max(0, deadline - Date.now())
            await Promise.race([nextPhase, stopped, new Promise((r) => setTimeout(r, left))])
            continue
          }
          sent.set(at, (sent.get(at) ?? 0) + 1)
          const answer = await pay(payer, `${gateway.url}/v1/execution/k${j}-${i}/results`).catch(
            (error: unknown) => ({ status: -1, error }),
          )
          answers[j]!.push({ ...answer, phase: at, ended: phase })
          check()
        }
        signals.warm()
        signals.alone()
        signals.back()
      }),
    )

    await warm
    await victim.server.kill9()
    enter('down')
    await cluster.promoted(replica!)
    enter('alone')
    await alone
    enter('rejoining')
    await victim.server.restart()
    await cluster.rejoined(victim)
    enter('after')
    await back
    stop = true
    stopLoad()
    await load

    const statuses = answers.flat().map((answer) => answer.status)
    expect(new Set(statuses)).toEqual(new Set([200, 503]))
    const onVictim = payers.flatMap((p, j) => (p.home.id === victim.id ? [answers[j]!] : []))
    const elsewhere = payers.flatMap((p, j) => (p.home.id === victim.id ? [] : [answers[j]!]))
    expect(onVictim.length).toBeGreaterThan(0)
    expect(elsewhere.length).toBeGreaterThan(0)
    // Without a replica the promoted primary's channels are refused, clearly: 503, and the log says
    // why. The other primaries' channels are served throughout.
    for (const mine of onVictim) {
      const whileAlone = mine.filter((x) => x.phase === 'alone' && x.ended === 'alone')
      expect(whileAlone.length).toBeGreaterThan(0)
      expect(whileAlone.every((x) => x.status === 503)).toBe(true)
    }
    const why = 'ledger: an accepted voucher did not reach enough replicas in time; answering 503'
    expect([...a.lines, ...b.lines].some((line) => line.msg === why)).toBe(true)
    for (const mine of elsewhere) {
      expect(mine.filter((x) => x.phase !== 'down').every((x) => x.status === 200)).toBe(true)
    }
    expect(servedIn('after').every((n) => n >= 3)).toBe(true)

    // No voucher that paid for a 200 is missing from the promoted replica (or any primary).
    for (const [j, payer] of payers.entries()) {
      const answered = answers[j]!.flatMap((x) => (x.status === 200 ? [x.acceptedCumulative!] : []))
      const highest = answered.reduce((max, value) => (value > max ? value : max), 0n)
      const record = (await ledger.get(payer.channelId))!
      expect(record.accepted.cumulative).toBeGreaterThanOrEqual(highest)
      expect(record.accepted.cumulative).toBeGreaterThanOrEqual(record.spent)
    }
    const count = (which: Phase, status: number) =>
      answers.flat().filter((x) => x.phase === which && x.status === status).length
    console.info(
      'cluster failover:',
      JSON.stringify(
        Object.fromEntries(
          (['before', 'down', 'alone', 'rejoining', 'after'] as const).map((p) => [
            p,
            { ok: count(p, 200), unavailable: count(p, 503) },
          ]),
        ),
      ),
    )
  })
})
