/**
 * The payer index (`{<prefix>payer:<payer>}`): the channels a payer opened, for session recovery.
 * A hint beside the channel hashes (the payer's own cluster slot): added with each open in the
 * same round trip, dropped when the channel is finalized, pruned when read, repaired by the
 * periodic `index.open()` scan. The contract suite pins what `channelsOf` returns; this suite
 * pins the key itself and its repairs.
 */
import type { Address } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisKeys } from '../../src/ledger/redis/keys.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { newChannel } from './contract.js'

describe('redis ledger: payer index', () => {
  let server: RedisServer
  let ledger: RedisLedger
  const prefix = 'payers-test:'
  const t0 = 1_700_000_000_000
  let payers = 0

  beforeAll(async () => {
    server = await startRedisServer()
    ledger = await createRedisLedger({ url: server.url, keyPrefix: prefix })
  })
  afterAll(async () => {
    await ledger.close()
    await server.stop()
  })

  const freshPayer = (): Address => {
    payers += 1
    return `0x${'Ab'.repeat(18)}${payers.toString(16).padStart(4, '0')}`
  }
  const members = (payer: Address) => ledger.client.smembers(redisKeys(prefix).payer(payer))

  it('lists each open channel under its lower-cased payer, and drops it when finalized', async () => {
    const payer = freshPayer()
    const [a, b] = [newChannel(1_000n, payer), newChannel(1_000n, payer)]
    await ledger.open(a, t0)
    await ledger.open(b, t0)
    expect((await members(payer)).sort()).toEqual([a.channelId, b.channelId].sort())
    await ledger.finalize(a.channelId, { settled: 0n, txHash: undefined }, t0 + 1)
    // The drop is a follow-up nobody waits for; a read prunes it in any case.
    expect((await ledger.channelsOf(payer, 10)).map((r) => r.channelId)).toEqual([b.channelId])
    expect(await members(payer)).toEqual([b.channelId])
    await ledger.syncChain(b.channelId, { deposit: 0n, settled: 0n, closeRequestedAt: 0 }, t0 + 2)
    expect(await ledger.channelsOf(payer, 10)).toEqual([])
    expect(await members(payer)).toEqual([])
  })

  it('prunes an entry whose channel hash is gone', async () => {
    const payer = freshPayer()
    const [kept, gone] = [newChannel(1_000n, payer), newChannel(1_000n, payer)]
    await ledger.open(kept, t0)
    await ledger.open(gone, t0)
    await ledger.client.del(redisKeys(prefix).channel(gone.channelId))
    expect((await ledger.channelsOf(payer, 10)).map((r) => r.channelId)).toEqual([kept.channelId])
    expect(await members(payer)).toEqual([kept.channelId])
  })

  it('re-adds an entry a crash lost when the reconciliation scan runs', async () => {
    const payer = freshPayer()
    const channel = newChannel(1_000n, payer)
    await ledger.open(channel, t0)
    await ledger.client.del(redisKeys(prefix).payer(payer))
    expect(await ledger.channelsOf(payer, 10)).toEqual([])
    expect(await ledger.index.open(10_000)).toContain(channel.channelId)
    expect((await ledger.channelsOf(payer, 10)).map((r) => r.channelId)).toEqual([
      channel.channelId,
    ])
  })
})
