/**
 * How the Redis ledger talks to Redis: scripts by SHA with a transparent reload after
 * `SCRIPT FLUSH`, and the hot path — `authorize` — as exactly one command per call, counted by
 * the server itself (`INFO commandstats` and `MONITOR`).
 */
import { Redis } from 'ioredis'
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { newChannel, voucher } from './contract.js'

/** Calls per command from `INFO commandstats` (`evalsha`, `script|load`, `hgetall`, …). */
async function commandCalls(client: Redis): Promise<Map<string, number>> {
  const info = await client.info('commandstats')
  const calls = new Map<string, number>()
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls.set(match[1]!, Number(match[2]))
  }
  return calls
}

const grew = (before: Map<string, number>, after: Map<string, number>, name: string) =>
  (after.get(name) ?? 0) - (before.get(name) ?? 0)

describe('redis ledger scripts', () => {
  let server: RedisServer
  let ledger: RedisLedger
  let probe: Redis
  const now = 1_700_000_000_000

  beforeAll(async () => {
    server = await startRedisServer()
    ledger = await createRedisLedger({ url: server.url, keyPrefix: 'scripts:' })
    probe = new Redis(server.url)
  })
  afterAll(async () => {
    await ledger.close()
    probe.disconnect()
    await server.stop()
  })

  async function opened(): Promise<Hex> {
    const channel = newChannel()
    await ledger.open(channel, now)
    return channel.channelId
  }

  it('survives SCRIPT FLUSH before every operation', async () => {
    const flush = () => probe.script('FLUSH')
    const before = await commandCalls(probe)
    const channel = newChannel()
    const id = channel.channelId
    await flush()
    expect((await ledger.open(channel, now)).kind).toBe('created')
    await flush()
    expect(
      await ledger.authorize({
        channelId: id,
        voucher: voucher(50n),
        amount: 10n,
        mode: 'reserve',
        reservationId: 'a',
        expiresAt: now + 60_000,
        minDelta: 0n,
        now,
      }),
    ).toMatchObject({ kind: 'authorized', voucher: 'new' })
    await flush()
    expect((await ledger.commit(id, 'a', now)).kind).toBe('committed')
    await flush()
    expect((await ledger.release(id, 'a', now)).kind).toBe('missing')
    await flush()
    expect((await ledger.recordTopUp(id, 2_000_000n, now)).kind).toBe('ok')
    await flush()
    expect(
      (await ledger.syncChain(id, { deposit: 2_000_000n, settled: 5n, closeRequestedAt: 0 }, now))
        .kind,
    ).toBe('ok')
    await flush()
    expect((await ledger.markClosing(id, now)).kind).toBe('ok')
    await flush()
    expect((await ledger.cancelClosing(id, now)).kind).toBe('ok')
    await flush()
    expect((await ledger.finalize(id, { settled: 10n, txHash: undefined }, now)).kind).toBe('ok')
    expect(await ledger.get(id)).toMatchObject({
      status: 'finalized',
      spent: 10n,
      settled: 10n,
      deposit: 2_000_000n,
    })
    const after = await commandCalls(probe)
    // Each of the 9 calls met NOSCRIPT once and was sent whole (EVAL) once.
    expect(grew(before, after, 'eval')).toBe(9)
  })

  it('charges concurrent calls that all meet NOSCRIPT exactly once each', async () => {
    const id = await opened()
    await ledger.authorize({
      channelId: id,
      voucher: voucher(100n),
      amount: 0n,
      mode: 'none',
      minDelta: 0n,
      now,
    })
    await probe.script('FLUSH')
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        ledger.authorize({
          channelId: id,
          voucher: voucher(100n),
          amount: 1n,
          mode: 'commit',
          minDelta: 0n,
          now,
        }),
      ),
    )
    expect(results.every((r) => r.kind === 'authorized')).toBe(true)
    expect(await ledger.get(id)).toMatchObject({ spent: 20n, units: 20 })
  })

  it('authorizes with one EVALSHA per call and no other command', async () => {
    const id = await opened()
    const charge = (cum: bigint) =>
      ledger.authorize({
        channelId: id,
        voucher: voucher(cum),
        amount: 10n,
        mode: 'commit',
        minDelta: 0n,
        now,
      })
    // The first charge also adds the channel to the unsettled index (a second command, once).
    expect((await charge(10n)).kind).toBe('authorized')

    const info = await ledger.client.client('INFO')
    const addr = /\baddr=(\S+)/.exec(String(info))?.[1]
    expect(addr).toBeDefined()
    const monitor = await new Redis(server.url).monitor()
    const fromLedger: string[] = []
    const marker = `end-of-window-${Date.now()}`
    let markerSeen: () => void = () => undefined
    const markerArrived = new Promise<void>((resolve) => (markerSeen = resolve))
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === addr) fromLedger.push(String(args[0]).toLowerCase())
      if (args[1] === marker) markerSeen()
    })
    await new Promise((resolve) => setTimeout(resolve, 50))

    const n = 50
    const before = await commandCalls(probe)
    for (let i = 2; i <= n + 1; i += 1) {
      expect((await charge(BigInt(i) * 10n)).kind).toBe('authorized')
    }
    const after = await commandCalls(probe)
    await probe.echo(marker)
    await Promise.race([
      markerArrived,
      new Promise((_, reject) => setTimeout(() => reject(new Error('MONITOR fell silent')), 5_000)),
    ])
    monitor.disconnect()

    expect(grew(before, after, 'evalsha')).toBe(n)
    // The scripts' own HGETALL/HSET run inside Redis (MONITOR shows them as "lua"); from the
    // ledger's connection Redis received exactly the N EVALSHA, nothing else.
    expect(fromLedger).toEqual(Array.from({ length: n }, () => 'evalsha'))
    expect(await ledger.get(id)).toMatchObject({ spent: BigInt(n + 1) * 10n, units: n + 1 })
  })
})
