/**
 * Freshness of on-chain channel state in the ledger.
 *
 * A payer can top up or request a forced close directly on chain; the ledger learns of it from a
 * read of `getChannelState`, done at most once per `ttlMs` per channel and instance, shared by
 * concurrent requests. Reads go through the chain's reachability gate (chain/reachability.ts): a
 * short deadline, and after a failure no read at all for a while. When the chain cannot be read
 * the gateway keeps serving from the ledger for up to `maxStaleMs` since the channel's last good
 * read (a forced close leaves a 900-second grace, and the settlement watcher is the real guard);
 * beyond that, paid requests get `chain-unavailable` — at once, not after a time-out.
 */
import type { Hex } from 'viem'
import type { EscrowClient } from '../chain/escrow.js'
import type { ChainReachability } from '../chain/reachability.js'
import { GatewayError } from '../errors.js'
import type { ChainState, LedgerPort } from '../ledger/port.js'

export type ChainStateCache = {
  /** Brings the ledger's view of a channel up to date when the last read is older than the TTL. */
  ensureFresh(channelId: Hex): Promise<void>
  /** Reads the chain now and folds the result into the ledger. */
  refresh(channelId: Hex): Promise<ChainState>
  /** Notes that the ledger was just updated from chain by another path (open, topUp). */
  touch(channelId: Hex): void
  /** False while a failed chain read is remembered: transactions are refused without trying. */
  reachable(): boolean
}

export function createChainStateCache(options: {
  escrow: EscrowClient
  ledger: LedgerPort
  reachability: ChainReachability
  ttlMs: number
  maxStaleMs?: number
  now: () => number
}): ChainStateCache {
  const { reachability } = options
  const maxStaleMs = options.maxStaleMs ?? 300_000
  const lastRead = new Map<Hex, number>()
  const inflight = new Map<Hex, Promise<ChainState>>()
  /**
   * Notes a read. The map is kept in read order and entries older than both the TTL and
   * `maxStaleMs` are dropped: for such a channel a read is due and a failed one refused either
   * way, so forgetting it changes nothing but one ledger lookup, and the map holds only channels
   * read recently instead of every channel ever seen.
   */
  const noteRead = (channelId: Hex, at: number) => {
    lastRead.delete(channelId)
    lastRead.set(channelId, at)
    const horizon = Math.max(options.ttlMs, maxStaleMs)
    for (const [id, t] of lastRead) {
      if (at - t <= horizon) break
      lastRead.delete(id)
    }
  }

  const refresh = (channelId: Hex): Promise<ChainState> => {
    const running = inflight.get(channelId)
    if (running) return running
    const read = (async () => {
      try {
        const state = await reachability.read(() => options.escrow.readState(channelId))
        await options.ledger.syncChain(channelId, state, options.now())
        noteRead(channelId, options.now())
        return state
      } finally {
        inflight.delete(channelId)
      }
    })()
    inflight.set(channelId, read)
    return read
  }

  return {
    refresh,
    touch(channelId) {
      noteRead(channelId, options.now())
    },
    reachable: () => reachability.reachable(),
    async ensureFresh(channelId) {
      const at = lastRead.get(channelId)
      const now = options.now()
      if (at !== undefined && now - at < options.ttlMs) return
      // Never spend an RPC call on a channel the ledger does not know (random ids cost nothing).
      if (at === undefined && !(await options.ledger.get(channelId))) return
      try {
        await refresh(channelId)
      } catch (error) {
        // The ledger failing is its own answer (ledger-unavailable), not the chain's.
        if (error instanceof GatewayError && error.code !== 'chain-unavailable') throw error
        if (at === undefined || now - at > maxStaleMs) {
          throw new GatewayError('chain-unavailable', 'The chain could not be read.', {
            cause: error,
            retryAfter: 2,
          })
        }
      }
    },
  }
}
