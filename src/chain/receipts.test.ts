import type { Hex, TransactionReceipt } from 'viem'
import { describe, expect, it, vi } from 'vitest'
import { createReceiptPoller, ReceiptTimeoutError } from './receipts.js'

const hash = (n: number): Hex => `0x${n.toString(16).padStart(64, '0')}`
const receiptOf = (h: Hex) => ({ transactionHash: h }) as TransactionReceipt

describe('receipt poller', () => {
  it('asks for every awaited hash in one batch per poll and hands each waiter its own receipt', async () => {
    const included = new Set<Hex>()
    const batches: Hex[][] = []
    const poller = createReceiptPoller({
      intervalMs: 5,
      fetch: async (hashes) => {
        batches.push([...hashes])
        return hashes.map((h) => (included.has(h) ? receiptOf(h) : undefined))
      },
    })
    const hashes = Array.from({ length: 20 }, (_, i) => hash(i + 1))
    const waits = hashes.map((h) => poller.wait(h, 5_000))
    expect(poller.inFlight).toBe(20)
    // Two polls come back empty first: nobody is answered early or twice.
    await vi.waitFor(() => expect(batches.length).toBeGreaterThanOrEqual(2))
    for (const h of hashes) included.add(h)
    const receipts = await Promise.all(waits)
    expect(receipts.map((r) => r.transactionHash)).toEqual(hashes)
    expect(batches.length).toBeGreaterThan(1)
    for (const batch of batches) expect(batch).toHaveLength(20)
    expect(poller.inFlight).toBe(0)
  })

  it('splits large sets into batches of batchSize', async () => {
    const sizes: number[] = []
    const poller = createReceiptPoller({
      intervalMs: 1,
      batchSize: 4,
      fetch: async (hashes) => {
        sizes.push(hashes.length)
        return hashes.map(receiptOf)
      },
    })
    await Promise.all(Array.from({ length: 10 }, (_, i) => poller.wait(hash(i + 100), 1_000)))
    expect(sizes).toEqual([4, 4, 2])
  })

  it('rejects a waiter after its time-out; a failing RPC fails nobody early', async () => {
    let calls = 0
    const poller = createReceiptPoller({
      intervalMs: 5,
      fetch: async () => {
        calls += 1
        throw new Error('rpc down')
      },
    })
    const started = Date.now()
    const failure = await poller.wait(hash(7), 100).catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(ReceiptTimeoutError)
    expect(Date.now() - started).toBeGreaterThanOrEqual(95)
    expect(calls).toBeGreaterThan(1)
    expect(poller.inFlight).toBe(0)
  })
})
