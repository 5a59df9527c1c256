/**
 * The settlement-store contract: locks are exclusive and fenced, an intent is written only under
 * the current lease, an intent is cleared only by its own transaction hash, and the watcher's
 * cursor persists. Every adapter runs it unchanged.
 */
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Lease, SettlementIntent, SettlementStore } from '../../src/settlement/store.js'

let n = 0
const channel = (): Hex => `0x${(Date.now() * 1000 + ++n).toString(16).padStart(64, '0')}`

const intentFor = (lease: Lease, txHash: Hex): SettlementIntent => ({
  channelId: lease.channelId,
  kind: 'settle',
  cumulative: 123_456_789_000_000_000_000_000_000n,
  capture: undefined,
  txHash,
  rawTransaction: '0x76abcdef',
  validBefore: 1_900_000_000,
  fence: lease.fence,
  createdAt: 1_800_000_000_000,
})

export function describeSettlementStoreContract(
  name: string,
  create: () => Promise<SettlementStore & { teardown?: () => Promise<void> }>,
) {
  describe(`settlement store contract: ${name}`, () => {
    let store: SettlementStore & { teardown?: () => Promise<void> }
    beforeAll(async () => {
      store = await create()
    })
    afterAll(async () => {
      await store.close()
      await store.teardown?.()
    })

    it('gives a channel to one owner at a time; the owner may renew; release frees it', async () => {
      const id = channel()
      const a = await store.acquire(id, 'a', 10_000)
      expect(a).toBeDefined()
      expect(await store.acquire(id, 'b', 10_000)).toBeUndefined()
      const again = await store.acquire(id, 'a', 10_000)
      expect(again!.fence).toBeGreaterThan(a!.fence)
      await store.release(a!) // a stale lease releases nothing
      expect(await store.acquire(id, 'b', 10_000)).toBeUndefined()
      await store.release(again!)
      expect(await store.acquire(id, 'b', 10_000)).toBeDefined()
    })

    it('fences: after a lease lapses and another owner takes over, the old lease cannot write', async () => {
      const id = channel()
      const old = (await store.acquire(id, 'old', 200))!
      await new Promise((r) => setTimeout(r, 300))
      const fresh = (await store.acquire(id, 'new', 10_000))!
      expect(fresh.fence).toBeGreaterThan(old.fence)
      expect(await store.saveIntent(old, intentFor(old, `0x${'01'.repeat(32)}`))).toBe(false)
      expect(await store.intent(id)).toBeUndefined()
      expect(await store.saveIntent(fresh, intentFor(fresh, `0x${'02'.repeat(32)}`))).toBe(true)
      expect((await store.intent(id))?.txHash).toBe(`0x${'02'.repeat(32)}`)
    })

    it('keeps an intent exactly, lists it as pending, and clears it only by its own hash', async () => {
      const id = channel()
      const lease = (await store.acquire(id, 'a', 10_000))!
      const intent = intentFor(lease, `0x${'aa'.repeat(32)}`)
      expect(await store.saveIntent(lease, intent)).toBe(true)
      expect(await store.intent(id)).toEqual(intent)
      expect(await store.pendingIntents()).toContain(id)
      await store.clearIntent(id, `0x${'bb'.repeat(32)}`)
      expect(await store.intent(id)).toEqual(intent)
      await store.clearIntent(id, intent.txHash)
      expect(await store.intent(id)).toBeUndefined()
      expect(await store.pendingIntents()).not.toContain(id)
    })

    it('keeps the watcher cursor', async () => {
      await store.setCursor(42n)
      expect(await store.cursor()).toBe(42n)
      await store.setCursor(43n)
      expect(await store.cursor()).toBe(43n)
    })

    it('hands a contended channel to exactly one of many concurrent owners', async () => {
      const id = channel()
      const leases = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.acquire(id, `o${i}`, 10_000)),
      )
      expect(leases.filter(Boolean)).toHaveLength(1)
    })
  })
}
