/**
 * Waiting for transaction receipts by hash, for every transaction in flight at once: one poller
 * per chain client asks for the receipts of all awaited hashes in one JSON-RPC batch per poll,
 * whether one transaction is in flight or a thousand.
 *
 * Why by hash only: the gateway's own transactions (and its clients' opens) are Tempo
 * transactions with expiring nonces — nonce key 2^256−1, nonce 0 — so every transaction of one
 * sender has the same (sender, nonce) pair. A wait that, on a missed poll, looks for a
 * "replacement" by sender and nonce (what viem's `waitForTransactionReceipt` does) mistakes any
 * other transaction of the payee in the same block for this one and hands back its receipt,
 * which holds no event for this channel. A receipt asked for by its own hash can only be its own.
 *
 * Invariants:
 *  - a waiter is settled exactly once: with the receipt of its hash, or with a
 *    {@link ReceiptTimeoutError} once its own time-out passed (the outcome is then unknown);
 *  - at most one poll is in flight; nothing is polled while nobody waits (no timer is left
 *    behind), so the map of awaited hashes is bounded by the transactions in flight;
 *  - a failed poll (RPC down) fails no waiter: the next poll asks again, each waiter's time-out
 *    bounds the wait.
 */
import type { Hex, TransactionReceipt } from 'viem'

/** The receipts of `hashes`, in order, `undefined` where a transaction is not included (yet). */
export type FetchReceipts = (
  hashes: readonly Hex[],
) => Promise<readonly (TransactionReceipt | undefined)[]>

export type ReceiptPoller = {
  /** Resolves with the receipt of `hash`; rejects with a time-out after `timeoutMs`. */
  wait(hash: Hex, timeoutMs: number): Promise<TransactionReceipt>
  /** Hashes awaited right now (tests, metrics). */
  readonly inFlight: number
}

/** No receipt within the waiter's time-out: the transaction may still land. */
export class ReceiptTimeoutError extends Error {
  constructor(readonly hash: Hex) {
    super(`no receipt for ${hash} within the time-out`)
    this.name = 'ReceiptTimeoutError'
  }
}

type Waiter = {
  readonly resolve: (receipt: TransactionReceipt) => void
  readonly reject: (error: Error) => void
  readonly timer: NodeJS.Timeout
}

export function createReceiptPoller(options: {
  readonly fetch: FetchReceipts
  /** Time between the end of one poll and the start of the next. */
  readonly intervalMs: number
  /** Most hashes asked for in one JSON-RPC batch (providers cap batch sizes). */
  readonly batchSize?: number
}): ReceiptPoller {
  const batchSize = options.batchSize ?? 100
  const waiting = new Map<Hex, Set<Waiter>>()
  let timer: NodeJS.Timeout | undefined
  let polling = false

  const settle = (hash: Hex, outcome: (waiter: Waiter) => void) => {
    const waiters = waiting.get(hash)
    if (!waiters) return
    waiting.delete(hash)
    for (const waiter of waiters) {
      clearTimeout(waiter.timer)
      outcome(waiter)
    }
  }

  const poll = async () => {
    timer = undefined
    polling = true
    try {
      const hashes = [...waiting.keys()]
      for (let i = 0; i < hashes.length; i += batchSize) {
        const chunk = hashes.slice(i, i + batchSize)
        let receipts: readonly (TransactionReceipt | undefined)[]
        try {
          receipts = await options.fetch(chunk)
        } catch {
          continue // the RPC failed: every waiter's own time-out bounds its wait
        }
        chunk.forEach((hash, k) => {
          const receipt = receipts[k]
          if (receipt) settle(hash, (waiter) => waiter.resolve(receipt))
        })
      }
    } finally {
      polling = false
      schedule()
    }
  }

  const schedule = () => {
    if (timer || polling || waiting.size === 0) return
    timer = setTimeout(() => void poll(), options.intervalMs)
  }

  return {
    wait(hash, timeoutMs) {
      const key = hash.toLowerCase() as Hex
      return new Promise<TransactionReceipt>((resolve, reject) => {
        const waiter: Waiter = {
          resolve,
          reject,
          timer: setTimeout(() => {
            const waiters = waiting.get(key)
            waiters?.delete(waiter)
            if (waiters?.size === 0) waiting.delete(key)
            reject(new ReceiptTimeoutError(hash))
          }, timeoutMs),
        }
        const waiters = waiting.get(key) ?? new Set<Waiter>()
        waiters.add(waiter)
        waiting.set(key, waiters)
        schedule()
      })
    },
    get inFlight() {
      return waiting.size
    },
  }
}
