import type { Hex } from 'viem'

/** Polls `probe` until it returns a value, bounded by `timeoutMs` (tests wait on the chain). */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/**
 * Waits until every served hold of a channel is confirmed — final and settleable — which the
 * gateway does in the background just after the answers (gate/confirms.ts): the record is then
 * at rest, for a test that compares it before and after something, or settles it.
 */
export function holdsConfirmed(
  ledger: { get(channelId: Hex): Promise<{ readonly held: bigint } | undefined> },
  channelId: Hex,
): Promise<true> {
  return until('the served holds to be confirmed', async () =>
    (await ledger.get(channelId))?.held === 0n ? true : undefined,
  )
}
