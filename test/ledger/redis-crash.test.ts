/**
 * Durability of acknowledged vouchers: with `appendonly yes` + `appendfsync always`, a kill -9 of
 * redis-server loses nothing the ledger acknowledged. Every voucher the ledger said yes to is
 * there after the restart, with its signature, and so is every charge.
 */
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SignedVoucher } from '../../src/ledger/port.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { newChannel, voucher, chargeInput } from './contract.js'

async function waitForLedger(ledger: RedisLedger, withinMs: number): Promise<void> {
  const deadline = performance.now() + withinMs
  while (performance.now() < deadline) {
    try {
      await ledger.ping()
      return
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }
  throw new Error(`ledger did not come back within ${withinMs} ms`)
}

describe('redis ledger: AOF always survives kill -9', () => {
  let server: RedisServer
  let ledger: RedisLedger
  const now = 1_700_000_000_000

  beforeAll(async () => {
    server = await startRedisServer({ appendonly: true, appendfsync: 'always' })
    ledger = await createRedisLedger({ url: server.url, keyPrefix: 'crash:' })
  })
  afterAll(async () => {
    await ledger.close()
    await server.stop()
  })

  const charge = (id: Hex, cum: bigint) => ledger.authorize(chargeInput(id, cum, now))

  it('keeps every voucher acknowledged before the kill', async () => {
    const acknowledged = new Map<Hex, SignedVoucher>()
    const channels: Hex[] = []
    for (let c = 0; c < 20; c += 1) {
      const channel = newChannel()
      await ledger.open(channel, now)
      channels.push(channel.channelId)
    }
    for (let step = 1n; step <= 10n; step += 1n) {
      for (const id of channels) {
        const result = await charge(id, step * 10n)
        expect(result.kind).toBe('authorized')
        acknowledged.set(id, voucher(step * 10n))
      }
    }
    const pidBefore = server.pid
    await server.kill9()
    await server.restart()
    expect(server.pid).not.toBe(pidBefore)
    await waitForLedger(ledger, 10_000)

    for (const id of channels) {
      const record = (await ledger.get(id))!
      expect(record.accepted).toEqual(acknowledged.get(id))
      expect(record.settleVoucher).toEqual(acknowledged.get(id))
      expect(record).toMatchObject({ spent: 100n, units: 10 })
    }
  })

  it('keeps every acknowledged voucher when killed mid-traffic', async () => {
    const writers = 8
    const channels: Hex[] = []
    for (let c = 0; c < writers; c += 1) {
      const channel = newChannel()
      await ledger.open(channel, now)
      channels.push(channel.channelId)
    }
    const lastAck = new Map<Hex, bigint>()
    let acks = 0
    let reachedTarget: () => void = () => undefined
    const target = new Promise<void>((resolve) => (reachedTarget = resolve))

    /** Raises its channel's voucher by 10 per call until a call fails (bounded). */
    const writer = async (id: Hex) => {
      for (let step = 1n; step <= 5_000n; step += 1n) {
        try {
          const result = await charge(id, step * 10n)
          if (result.kind !== 'authorized') throw new Error(`unexpected ${result.kind}`)
        } catch {
          return
        }
        lastAck.set(id, step * 10n)
        acks += 1
        if (acks === 400) reachedTarget()
      }
    }
    const running = Promise.all(channels.map(writer))
    await Promise.race([target, new Promise((resolve) => setTimeout(resolve, 10_000))])
    await server.kill9()
    await running
    await server.restart()
    await waitForLedger(ledger, 10_000)

    expect(acks).toBeGreaterThanOrEqual(400)
    for (const id of channels) {
      const acked = lastAck.get(id) ?? 0n
      const record = (await ledger.get(id))!
      // At most the one call in flight at the kill may have landed without its answer.
      expect([acked, acked + 10n]).toContain(record.accepted.cumulative)
      expect(record.accepted.signature).toBe(voucher(record.accepted.cumulative).signature)
      expect(record.spent).toBe(record.accepted.cumulative)
    }
  })
})
