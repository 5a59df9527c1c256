import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { EscrowClient } from '../chain/escrow.js'
import { createMemoryLedger } from '../ledger/memory.js'
import { chargeInput, newChannel } from '../../test/ledger/contract.js'
import { createSettler } from './settler.js'
import { createMemorySettlementStore, type SettlementStore } from './store.js'

const now = 1_700_000_000_000

/** A settler over a memory ledger whose chain refuses to sign, counting lock acquisitions. */
async function setup(amountThreshold: bigint) {
  const ledger = createMemoryLedger()
  const channels = [newChannel(), newChannel()]
  for (const channel of channels) {
    await ledger.open(channel, now)
    // Two charges of 10 units each: 20 spent, unsettled.
    await ledger.authorize(chargeInput(channel.channelId, 10n, now))
    await ledger.authorize(chargeInput(channel.channelId, 20n, now))
  }
  const memory = createMemorySettlementStore(() => now)
  const acquired: string[] = []
  const store: SettlementStore = {
    ...memory,
    acquire: (channelId, owner, ttlMs) => {
      acquired.push(channelId)
      return memory.acquire(channelId, owner, ttlMs)
    },
  }
  const signed: string[] = []
  const escrow = {
    signWrite: (call: { descriptor: { salt: string } }) => {
      signed.push(call.descriptor.salt)
      return Promise.reject(new Error('no chain in this test'))
    },
  } as unknown as EscrowClient
  const logger = pino({ level: 'silent' })
  const settler = createSettler({
    ledger,
    index: ledger.index,
    store,
    submit: { escrow, store, ledger, logger, now: () => now, receiptTimeoutMs: 1_000 },
    policy: { amountThreshold, maxUnsettledMs: 3_600_000, depositPercent: 100 },
    owner: 'test',
    lockTtlMs: 5_000,
    pollIntervalMs: 60_000,
    maxAttempts: 3,
    closeMarginSeconds: 300,
    logger,
    now: () => now,
  })
  return { settler, acquired, signed, channels }
}

describe('settler rounds', () => {
  it('look at channels below every threshold without taking their locks', async () => {
    const { settler, acquired, signed } = await setup(1_000n)
    await settler.runOnce()
    await settler.runOnce()
    expect(acquired).toEqual([])
    expect(signed).toEqual([])
  })

  it('take the lock of a channel that is due, and only then try to settle it', async () => {
    const { settler, acquired, signed, channels } = await setup(20n)
    await settler.runOnce()
    expect([...acquired].sort()).toEqual(channels.map((c) => c.channelId).sort())
    expect(signed).toHaveLength(2)
  })
})
