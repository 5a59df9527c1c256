/**
 * The Redis ledger when Redis is gone, hung or not there at all: every call fails fast with
 * `ledger-unavailable` (never a raw error, never a silent success), and the same ledger instance
 * works again by itself once Redis is back.
 */
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/errors.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { freePort, startRedisServer, type RedisServer } from '../support/redis-server.js'
import { newChannel, voucher, chargeInput } from './contract.js'

/** Awaits `call` and returns how it failed, and how long that took. */
async function failure(call: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now()
  try {
    await call()
  } catch (error) {
    return { error, ms: performance.now() - started }
  }
  throw new Error('expected the call to fail')
}

function expectUnavailable(error: unknown) {
  expect(error).toBeInstanceOf(GatewayError)
  expect(error).toMatchObject({ code: 'ledger-unavailable', status: 503, retryAfter: 1 })
  expect((error as GatewayError).cause).toBeInstanceOf(Error)
}

/** Polls `ping` until it succeeds: bounded in time, never retries an assertion. */
async function waitForLedger(ledger: RedisLedger, withinMs: number): Promise<number> {
  const started = performance.now()
  while (performance.now() - started < withinMs) {
    try {
      await ledger.ping()
      return performance.now() - started
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }
  throw new Error(`ledger did not come back within ${withinMs} ms`)
}

describe('redis ledger: outages', () => {
  let server: RedisServer
  let ledger: RedisLedger
  const warnings: { obj: object; msg: string }[] = []
  const now = 1_700_000_000_000
  const commandTimeoutMs = 1_000

  beforeAll(async () => {
    server = await startRedisServer({ appendonly: true, appendfsync: 'always' })
    ledger = await createRedisLedger({
      url: server.url,
      keyPrefix: 'outage:',
      commandTimeoutMs,
      logger: { warn: (obj, msg) => warnings.push({ obj, msg }) },
    })
  })
  afterAll(async () => {
    await ledger.close()
    await server.stop()
  })

  const charge = (id: Hex, cum: bigint) => ledger.authorize(chargeInput(id, cum, now))

  it('fails every call fast while Redis is down, and recovers when it returns', async () => {
    const channel = newChannel()
    const id = channel.channelId
    await ledger.open(channel, now)
    expect((await charge(id, 10n)).kind).toBe('authorized')

    await server.kill9()
    const calls: (() => Promise<unknown>)[] = [
      () => charge(id, 20n),
      () => ledger.get(id),
      () => ledger.ping(),
      () => ledger.open(newChannel(), now),
      () => ledger.commit(id, 'x', now),
      () => ledger.release(id, 'x', now),
      () => ledger.recordTopUp(id, 5n, now),
      () => ledger.syncChain(id, { deposit: 1n, settled: 0n, closeRequestedAt: 0 }, now),
      () => ledger.markClosing(id, now),
      () => ledger.cancelClosing(id, now),
      () => ledger.finalize(id, { settled: 0n, txHash: undefined }, now),
      () => ledger.listUnsettled(10),
      () => ledger.durability(),
    ]
    for (const call of calls) {
      const { error, ms } = await failure(call)
      expectUnavailable(error)
      // Not waiting for a command timeout: the offline queue is off.
      expect(ms).toBeLessThan(commandTimeoutMs)
    }
    // Calls can fail (socket no longer writable) before ioredis has reported the close; the
    // warning follows within moments. Bounded wait for an event, not a retry of an assertion.
    const lost = () => warnings.some((w) => /connection lost/.test(w.msg))
    for (let waited = 0; !lost() && waited < 2_000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(lost()).toBe(true)

    await server.restart()
    await waitForLedger(ledger, 10_000)
    // The restarted server has no scripts (NOSCRIPT → reload) but has the data (AOF).
    expect(await ledger.get(id)).toMatchObject({ accepted: voucher(10n), spent: 10n })
    expect((await charge(id, 20n)).kind).toBe('authorized')
    expect(await ledger.get(id)).toMatchObject({ accepted: voucher(20n), spent: 20n, units: 2 })
    expect(warnings.some((w) => /restored/.test(w.msg))).toBe(true)
  })

  it('fails a call on a hung Redis after the command timeout; that call may still apply', async () => {
    const channel = newChannel()
    const id = channel.channelId
    await ledger.open(channel, now)
    server.freeze()
    let outcome: { error: unknown; ms: number }
    try {
      outcome = await failure(() => charge(id, 10n))
    } finally {
      server.thaw()
    }
    expectUnavailable(outcome.error)
    expect(outcome.ms).toBeGreaterThanOrEqual(commandTimeoutMs - 50)
    expect(outcome.ms).toBeLessThan(commandTimeoutMs + 1_000)
    // The EVALSHA was already written to the socket: Redis runs it when it wakes up. A timeout
    // means "unknown", which is why the gateway never resends it (it answers 503 instead).
    expect(await ledger.get(id)).toMatchObject({ spent: 10n, accepted: voucher(10n) })
    expect((await charge(id, 20n)).kind).toBe('authorized')
  })

  it('refuses to start, with ledger-unavailable, when nothing listens', async () => {
    const port = await freePort()
    const { error, ms } = await failure(() =>
      createRedisLedger({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'none:' }),
    )
    expectUnavailable(error)
    expect(ms).toBeLessThan(3_000)
  })
})
