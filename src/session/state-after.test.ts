import { describe, expect, it } from 'vitest'
import type { Hex } from 'viem'
import { GatewayError } from '../errors.js'
import type { ChainState } from '../ledger/port.js'
import type { SessionContext } from './context.js'
import { stateAfter } from './state-after.js'

const channelId: Hex = `0x${'ab'.repeat(32)}`
const opened: ChainState = { deposit: 1_000n, settled: 0n, closeRequestedAt: 0 }
const grown: ChainState = { deposit: 2_000n, settled: 0n, closeRequestedAt: 0 }

/** A context whose escrow answers state reads at a block and at the latest as told. */
function context(atBlock: () => ChainState, latest: () => ChainState): SessionContext {
  const escrow = {
    readState: async (_id: Hex, blockNumber?: bigint) =>
      blockNumber === undefined ? latest() : atBlock(),
  }
  return { escrow } as unknown as SessionContext
}

const pruned = () => {
  throw new Error('BlockOutOfRangeError: block height is 196 but requested was 153')
}

describe('stateAfter', () => {
  it("reads at the receipt's block when the node still holds it", async () => {
    const ctx = context(
      () => opened,
      () => grown,
    )
    expect(await stateAfter(ctx, channelId, 153n)).toEqual({ state: opened, atBlock: true })
  })

  it('falls back to the latest state when that block was pruned, and says so', async () => {
    const ctx = context(pruned, () => grown)
    expect(await stateAfter(ctx, channelId, 153n)).toEqual({ state: grown, atBlock: false })
  })

  it('answers 503 chain-unavailable when neither read succeeds, never an unknown error', async () => {
    const ctx = context(pruned, pruned)
    const failure = await stateAfter(ctx, channelId, 153n).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(GatewayError)
    expect(failure).toMatchObject({ code: 'chain-unavailable', status: 503 })
  })
})
