/**
 * The settlement store: what the settler must not forget across crashes and share across
 * instances — per-channel locks with fencing, the intent of every transaction before it is
 * broadcast, and the close watcher's block cursor.
 *
 * Why intents: a settlement's outcome can be unknown (the RPC timed out after the node took the
 * transaction). The intent holds the exact signed transaction, its hash and its `validBefore`, so
 * a restarted or different settler can find out what happened (a receipt for that hash) or, while
 * the transaction can still land, broadcast the same bytes again — never a second, different
 * transaction. An expiring-nonce transaction that is not included by `validBefore` never will be,
 * so only then may a new one be made.
 *
 * Why fencing: a lock holder can stall past its TTL (GC, a hung RPC) while another instance takes
 * the channel over. Each lease carries a fencing number that only grows; an intent is written only
 * while the writer's lease is still the current one, so a stale holder cannot record a stale plan.
 */
import type { Hex } from 'viem'

export type IntentKind = 'settle' | 'close'

export type SettlementIntent = {
  readonly channelId: Hex
  readonly kind: IntentKind
  /** The voucher's cumulative amount submitted. */
  readonly cumulative: bigint
  /** For `close`: the amount captured for the payee. */
  readonly capture: bigint | undefined
  readonly txHash: Hex
  readonly rawTransaction: Hex
  /** Unix seconds after which the transaction can no longer be included. */
  readonly validBefore: number
  readonly fence: number
  /** Milliseconds since the epoch. */
  readonly createdAt: number
}

export type Lease = { readonly channelId: Hex; readonly owner: string; readonly fence: number }

export type SettlementStore = {
  /** Takes the channel for `ttlMs`, or returns undefined when another owner holds it. */
  acquire(channelId: Hex, owner: string, ttlMs: number): Promise<Lease | undefined>
  release(lease: Lease): Promise<void>
  /** Records an intent only while `lease` is still the channel's current lease. */
  saveIntent(lease: Lease, intent: SettlementIntent): Promise<boolean>
  intent(channelId: Hex): Promise<SettlementIntent | undefined>
  /** Channels with an intent still pending (for reconciliation after a restart). */
  pendingIntents(): Promise<Hex[]>
  /** Removes the intent of `txHash` (another intent for the channel is left alone). */
  clearIntent(channelId: Hex, txHash: Hex): Promise<void>
  /** Last block the close watcher has fully processed. */
  cursor(): Promise<bigint | undefined>
  setCursor(block: bigint): Promise<void>
  close(): Promise<void>
}

/** A store for a single process (memory ledger, tests): same semantics, nothing durable. */
export function createMemorySettlementStore(now: () => number = Date.now): SettlementStore {
  const locks = new Map<Hex, { owner: string; fence: number; until: number }>()
  const intents = new Map<Hex, SettlementIntent>()
  let fence = 0
  let cursor: bigint | undefined
  return {
    async acquire(channelId, owner, ttlMs) {
      const held = locks.get(channelId)
      if (held && held.until > now() && held.owner !== owner) return undefined
      fence += 1
      locks.set(channelId, { owner, fence, until: now() + ttlMs })
      return { channelId, owner, fence }
    },
    async release(lease) {
      const held = locks.get(lease.channelId)
      if (held && held.fence === lease.fence) locks.delete(lease.channelId)
    },
    async saveIntent(lease, intent) {
      const held = locks.get(lease.channelId)
      if (!held || held.fence !== lease.fence || held.until <= now()) return false
      intents.set(intent.channelId, intent)
      return true
    },
    async intent(channelId) {
      return intents.get(channelId)
    },
    async pendingIntents() {
      return [...intents.keys()]
    },
    async clearIntent(channelId, txHash) {
      if (intents.get(channelId)?.txHash === txHash) intents.delete(channelId)
    },
    async cursor() {
      return cursor
    },
    async setCursor(block) {
      cursor = block
    },
    async close() {},
  }
}
