import { describe, expect, it } from 'vitest'
import { createMemoryLedger } from '../ledger/memory.js'
import { chargeInput, newChannel } from '../../test/ledger/contract.js'
import { unsettledChannels } from './exposure.js'

describe('unsettled channels', () => {
  const now = 1_700_000_000_000

  it('lists spent-but-unsettled value, largest first, with the forced-close deadline', async () => {
    const ledger = createMemoryLedger()
    const [small, large, settledUp, closing, finalized] = [1, 2, 3, 4, 5].map(() => newChannel())
    for (const channel of [small, large, settledUp, closing, finalized])
      await ledger.open(channel!, now)
    // Each charge spends 10 units.
    await ledger.authorize(chargeInput(small!.channelId, 10n, now))
    for (const cumulative of [10n, 20n, 30n])
      await ledger.authorize(chargeInput(large!.channelId, cumulative, now))
    await ledger.authorize(chargeInput(settledUp!.channelId, 10n, now))
    await ledger.syncChain(
      settledUp!.channelId,
      { deposit: 1_000_000n, settled: 10n, closeRequestedAt: 0 },
      now,
    )
    await ledger.authorize(chargeInput(closing!.channelId, 10n, now))
    await ledger.authorize(chargeInput(closing!.channelId, 20n, now))
    await ledger.syncChain(
      closing!.channelId,
      { deposit: 1_000_000n, settled: 5n, closeRequestedAt: 1_700_000_100 },
      now,
    )
    await ledger.authorize(chargeInput(finalized!.channelId, 10n, now))
    await ledger.finalize(finalized!.channelId, { settled: 0n, txHash: undefined }, now)

    const rows = await unsettledChannels(ledger, ledger.index, 100)
    expect(rows.map((r) => [r.channelId, r.unsettled])).toEqual([
      [large!.channelId, 30n],
      [closing!.channelId, 15n],
      [small!.channelId, 10n],
    ])
    expect(rows[1]).toMatchObject({
      status: 'open',
      deposit: 1_000_000n,
      accepted: 20n,
      spent: 20n,
      settled: 5n,
      graceEndsAt: (1_700_000_100 + 900) * 1000,
    })
    expect(rows[0]!.graceEndsAt).toBeUndefined()
    expect(rows[0]!.payer).toBe(large!.descriptor.payer)
  })
})
