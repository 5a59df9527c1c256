/**
 * In-memory ledger adapter, for single-process development and tests.
 *
 * Each operation applies one pure transition synchronously, so within one Node process every
 * operation is atomic (no await between read and write). Nothing survives a restart: production
 * deployments use the Redis adapter.
 */
import type { Address, Hex } from 'viem'
import {
  byBlockTime,
  byRecentUse,
  type ChannelIndex,
  type ChannelRecord,
  type LedgerPort,
  type PayerBlock,
} from './port.js'
import * as t from './transitions.js'

export type MemoryLedger = LedgerPort & { readonly index: ChannelIndex }

export function createMemoryLedger(): MemoryLedger {
  const entries = new Map<Hex, t.LedgerEntry>()
  const key = (channelId: Hex) => channelId.toLowerCase() as Hex

  /** Applies a transition to one entry and stores the outcome. */
  const apply = <R>(
    channelId: Hex,
    step: (entry: t.LedgerEntry | undefined) => { entry: t.LedgerEntry | undefined; result: R },
  ): R => {
    const k = key(channelId)
    const { entry, result } = step(entries.get(k))
    if (entry) entries.set(k, entry)
    return result
  }

  /** Payment claims by key; lapsed ones are swept once the map grows (see `sweepClaims`). */
  const claims = new Map<string, { owner: string; expiresAt: number }>()
  let sweepAt = 1024
  const sweepClaims = (now: number) => {
    if (claims.size < sweepAt) return
    for (const [k, claim] of claims) if (claim.expiresAt <= now) claims.delete(k)
    sweepAt = Math.max(1024, claims.size * 2)
  }

  const blocked = new Map<string, PayerBlock>()
  let closed = false
  const live = () => {
    if (closed) throw new Error('ledger is closed')
  }

  return {
    async open(channel, now) {
      live()
      const k = key(channel.channelId)
      const existing = entries.get(k)
      if (existing) return { kind: 'exists', channel: existing.record }
      const entry = t.createEntry({ ...channel, channelId: k }, now)
      entries.set(k, entry)
      return { kind: 'created', channel: entry.record }
    },
    async authorize(input) {
      live()
      return apply(input.channelId, (e) => t.authorize(e, input))
    },
    async commit(channelId, reservationId, now, amount) {
      live()
      return apply(channelId, (e) => t.commit(e, reservationId, now, amount))
    },
    async release(channelId, reservationId, now, voidUntil) {
      live()
      return apply(channelId, (e) => t.release(e, reservationId, now, voidUntil))
    },
    async confirmHolds(channelId, reservationIds, now) {
      live()
      return apply(channelId, (e) => t.confirmHolds(e, reservationIds, now))
    },
    async recordTopUp(channelId, deposit, now) {
      live()
      return apply(channelId, (e) => t.recordTopUp(e, deposit, now))
    },
    async syncChain(channelId, state, now) {
      live()
      return apply(channelId, (e) => t.syncChain(e, state, now))
    },
    async markClosing(channelId, now) {
      live()
      return apply(channelId, (e) => t.markClosing(e, now))
    },
    async cancelClosing(channelId, now) {
      live()
      return apply(channelId, (e) => t.cancelClosing(e, now))
    },
    async finalize(channelId, outcome, now) {
      live()
      return apply(channelId, (e) => t.finalize(e, outcome, now))
    },
    async get(channelId) {
      live()
      return entries.get(key(channelId))?.record
    },
    async channelsOf(payer, limit) {
      live()
      const owner = payer.toLowerCase()
      const found: ChannelRecord[] = []
      for (const { record } of entries.values()) {
        if (record.status !== 'finalized' && record.descriptor.payer.toLowerCase() === owner) {
          found.push(record)
        }
      }
      return found.sort(byRecentUse).slice(0, limit)
    },
    async claimPayment({ key: claimKey, owner, expiresAt, now }) {
      live()
      sweepClaims(now)
      const k = claimKey.toLowerCase()
      const held = claims.get(k)
      if (held && held.expiresAt > now) return { kind: 'used' }
      claims.set(k, { owner, expiresAt })
      return { kind: 'claimed' }
    },
    async releasePayment(claimKey, owner) {
      live()
      const k = claimKey.toLowerCase()
      if (claims.get(k)?.owner === owner) claims.delete(k)
    },
    index: {
      async unsettled(limit) {
        const due: { channelId: Hex; since: number | undefined }[] = []
        for (const [channelId, { record }] of entries) {
          if (due.length >= limit) break
          if (record.status !== 'finalized' && record.spent > record.settled) {
            due.push({ channelId, since: undefined })
          }
        }
        return due
      },
      async open(limit) {
        const ids: Hex[] = []
        for (const [channelId, { record }] of entries) {
          if (ids.length >= limit) break
          if (record.status !== 'finalized') ids.push(channelId)
        }
        return ids
      },
    },
    blocks: {
      async block(payer, entry) {
        live()
        const k = payer.toLowerCase()
        const existing = blocked.get(k)
        if (existing) return { kind: 'already', block: existing }
        const block = { payer: k as Address, since: entry.since, reason: entry.reason }
        blocked.set(k, block)
        return { kind: 'blocked', block }
      },
      async unblock(payer) {
        live()
        return blocked.delete(payer.toLowerCase())
      },
      async get(payer) {
        live()
        return blocked.get(payer.toLowerCase())
      },
      async list(limit) {
        live()
        return [...blocked.values()].sort(byBlockTime).slice(0, limit)
      },
    },
    async ping() {
      live()
    },
    async close() {
      closed = true
    },
  }
}
