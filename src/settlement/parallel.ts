/** The settler's bounded parallelism over channels (settler.ts). */
/**
 * Channels worked on at once in a round. Why in parallel: each settlement waits for its receipt
 * (a block or more), and all receipts in flight are polled in one batch (chain/receipts.ts), so
 * settling channels one after the other would make a round last a block per due channel. Why
 * bounded: each settlement costs a few RPC calls to sign and one lock in Redis.
 */
export const parallelChannels = 32

/**
 * Runs `work` over `items`, at most {@link parallelChannels} at a time. A failure stops its lane
 * only; the call settles once every lane has, then rejects with the first failure (so a round
 * never ends while some of its work still runs).
 */
export async function inParallel<T>(items: readonly T[], work: (item: T) => Promise<void>) {
  let next = 0
  const lane = async () => {
    while (next < items.length) {
      const item = items[next] as T
      next += 1
      await work(item)
    }
  }
  const lanes = Array.from({ length: Math.min(parallelChannels, items.length) }, lane)
  const failed = (await Promise.allSettled(lanes)).find((r) => r.status === 'rejected')
  if (failed) throw failed.reason
}
