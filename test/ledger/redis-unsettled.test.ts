/**
 * The unsettled index (`{<prefix>unsettled:<bucket>}`): which channels hold value the settler should claim.
 * It is a hint kept beside the channel hashes (another cluster slot): added once when a charge
 * first makes `spent > settled`, never for a channel that was not charged, removed when the
 * channel is finalized, checked and pruned by `index.unsettled()`, repaired by `index.open()`.
 */
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisKeys } from '../../src/ledger/redis/keys.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { newChannel, voucher } from './contract.js'

describe('redis ledger: unsettled index', () => {
  let server: RedisServer
  let ledger: RedisLedger
  const prefix = 'unsettled-test:'
  const t0 = 1_700_000_000_000

  beforeAll(async () => {
    server = await startRedisServer()
    ledger = await createRedisLedger({ url: server.url, keyPrefix: prefix })
  })
  afterAll(async () => {
    await ledger.close()
    await server.stop()
  })

  const score = async (id: Hex) => ledger.client.zscore(redisKeys(prefix).unsettled(id), id)
  const unsettledSince = async (id: Hex) =>
    ledger.client.hget(redisKeys(prefix).channel(id), 'unsettledSince')

  async function opened(): Promise<Hex> {
    const channel = newChannel()
    await ledger.open(channel, t0)
    return channel.channelId
  }

  it('lists charged channels, oldest first, and nothing that was not charged', async () => {
    const [a, b, c] = [await opened(), await opened(), await opened()]
    const unknown = newChannel().channelId
    const commit = (id: Hex, cum: bigint | undefined, amount: bigint, now: number) =>
      ledger.authorize({
        channelId: id,
        voucher: cum === undefined ? undefined : voucher(cum),
        amount,
        mode: 'commit',
        minDelta: 0n,
        now,
      })

    // Random channel ids, refusals and voucher-only calls cost nothing in the index.
    expect((await commit(unknown, 10n, 10n, t0)).kind).toBe('not-found')
    expect((await commit(c, 5n, 10n, t0)).kind).toBe('insufficient')
    expect(
      (
        await ledger.authorize({
          channelId: c,
          voucher: voucher(20n),
          amount: 0n,
          mode: 'none',
          minDelta: 0n,
          now: t0,
        })
      ).kind,
    ).toBe('authorized')
    expect(await ledger.listUnsettled(10)).toEqual([])

    expect((await commit(a, 50n, 10n, t0 + 1)).kind).toBe('authorized')
    expect(await ledger.listUnsettled(10)).toEqual([a])
    expect(await score(a)).toBe(String(t0 + 1))

    // A reservation is not a charge; its commit is.
    await ledger.authorize({
      channelId: b,
      voucher: voucher(50n),
      amount: 10n,
      mode: 'reserve',
      reservationId: 'r',
      expiresAt: t0 + 60_000,
      minDelta: 0n,
      now: t0 + 2,
    })
    expect(await ledger.listUnsettled(10)).toEqual([a])
    expect((await ledger.commit(b, 'r', t0 + 3)).kind).toBe('committed')
    expect(await ledger.listUnsettled(10)).toEqual([a, b])

    // Later charges keep the first time.
    await commit(a, undefined, 10n, t0 + 4)
    expect(await score(a)).toBe(String(t0 + 1))
    expect(await ledger.listUnsettled(1)).toEqual([a])
  })

  it('is pruned only when the record says settled, and drops finalized channels', async () => {
    const [a, b] = [await opened(), await opened()]
    const charge = (id: Hex, cum: bigint, now: number) =>
      ledger.authorize({
        channelId: id,
        voucher: voucher(cum),
        amount: 10n,
        mode: 'commit',
        minDelta: 0n,
        now,
      })
    await charge(a, 10n, t0 + 10)
    await charge(b, 10n, t0 + 11)
    const listed = async () =>
      (await ledger.listUnsettled(100)).filter((id) => id === a || id === b)
    expect(await listed()).toEqual([a, b])

    // Still unsettled: the settler's prune keeps it, with its first time.
    expect(await ledger.index.prune(a)).toBe('kept')
    expect(await score(a)).toBe(String(t0 + 10))

    // The chain shows a settled: the record knows at once, the index after a prune.
    await ledger.syncChain(a, { deposit: 1_000_000n, settled: 10n, closeRequestedAt: 0 }, t0 + 12)
    expect(await unsettledSince(a)).toBeNull()
    expect(await listed()).toEqual([a, b])
    expect(await ledger.index.prune(a)).toBe('removed')
    expect(await listed()).toEqual([b])

    // Charged again: a new unsettled period, listed again from its new first time.
    await charge(a, 20n, t0 + 13)
    expect(await unsettledSince(a)).toBe(String(t0 + 13))
    expect(await listed()).toEqual([b, a])

    // Finalized channels can never be charged again: they leave the index.
    await ledger.finalize(b, { settled: 0n, txHash: undefined }, t0 + 14)
    expect(await listed()).toEqual([a])
    await ledger.syncChain(a, { deposit: 0n, settled: 0n, closeRequestedAt: 0 }, t0 + 15)
    expect(await listed()).toEqual([])
  })

  it('puts back an entry a crash lost once the channel is settled and charged again', async () => {
    const a = await opened()
    await ledger.authorize({
      channelId: a,
      voucher: voucher(10n),
      amount: 10n,
      mode: 'commit',
      minDelta: 0n,
      now: t0,
    })
    // As if the process died between the script and its ZADD.
    await ledger.client.zrem(redisKeys(prefix).unsettled(a), a)
    expect(await unsettledSince(a)).toBe(String(t0))
    await ledger.syncChain(a, { deposit: 1_000_000n, settled: 10n, closeRequestedAt: 0 }, t0 + 1)
    await ledger.authorize({
      channelId: a,
      voucher: voucher(20n),
      amount: 10n,
      mode: 'commit',
      minDelta: 0n,
      now: t0 + 2,
    })
    expect(await score(a)).toBe(String(t0 + 2))
  })

  it('index.unsettled returns only unsettled open channels, with their first time, and prunes the rest', async () => {
    const [a, b, c] = [await opened(), await opened(), await opened()]
    const charge = (id: Hex, cum: bigint, now: number) =>
      ledger.authorize({
        channelId: id,
        voucher: voucher(cum),
        amount: 10n,
        mode: 'commit',
        minDelta: 0n,
        now,
      })
    await charge(a, 10n, t0 + 100)
    await charge(b, 10n, t0 + 101)
    await charge(c, 10n, t0 + 102)
    await ledger.syncChain(b, { deposit: 1_000_000n, settled: 10n, closeRequestedAt: 0 }, t0 + 103)
    // As if an index scan re-added c just after it was finalized.
    await ledger.finalize(c, { settled: 0n, txHash: undefined }, t0 + 104)
    await ledger.client.zadd(redisKeys(prefix).unsettled(c), t0 + 102, c)

    const due = (await ledger.index.unsettled(1_000)).filter((d) => [a, b, c].includes(d.channelId))
    expect(due).toEqual([{ channelId: a, since: t0 + 100 }])
    const listed = await ledger.listUnsettled(1_000)
    expect(listed).toContain(a)
    expect(listed).not.toContain(b)
    expect(listed).not.toContain(c)
  })

  it('index.open lists open and closing channels, and re-adds index entries a crash lost', async () => {
    const fresh = await startRedisServer()
    const other = await createRedisLedger({ url: fresh.url, keyPrefix: 'scan[*]:' })
    try {
      const ids: Hex[] = []
      for (let i = 0; i < 30; i += 1) {
        const channel = newChannel()
        await other.open(channel, t0)
        ids.push(channel.channelId)
      }
      const [charged, closing, finalized] = [ids[0]!, ids[1]!, ids[2]!]
      await other.authorize({
        channelId: charged,
        voucher: voucher(10n),
        amount: 10n,
        mode: 'commit',
        minDelta: 0n,
        now: t0 + 7,
      })
      await other.markClosing(closing, t0)
      await other.finalize(finalized, { settled: 0n, txHash: undefined }, t0)
      await other.client.del(...redisKeys('scan[*]:').unsettledBuckets)
      // Under an unescaped pattern `{scan[*]:0x*}:ch` this other prefix's channel would match too.
      await other.client.hset(redisKeys('scan*:').channel(newChannel().channelId), 'status', 'open')

      const open = await other.index.open(1_000)
      expect(new Set(open)).toEqual(new Set(ids.filter((id) => id !== finalized)))
      expect(await other.listUnsettled(10)).toEqual([charged])
      expect(await other.client.zscore(redisKeys('scan[*]:').unsettled(charged), charged)).toBe(
        String(t0 + 7),
      )
      expect(await other.index.open(5)).toHaveLength(5)
    } finally {
      await other.close()
      await fresh.stop()
    }
  })

  it('refuses to start on keys of the layout before buckets, naming them', async () => {
    await ledger.client.zadd('old:unsettled', t0, newChannel().channelId)
    await expect(createRedisLedger({ url: server.url, keyPrefix: 'old:' })).rejects.toThrow(
      /earlier layout \(old:unsettled, old:intents\)/,
    )
  })

  it('refuses a limit that is not a positive integer', async () => {
    await expect(ledger.listUnsettled(0)).rejects.toThrow(RangeError)
  })
})
