/**
 * The idempotency store: which paid requests were answered already, so a retry is answered from
 * a stored copy instead of being forwarded and charged again.
 *
 * One record per (channel, key), in the ledger's store (Redis or memory), with a time-to-live:
 *  - `claim` is ONE atomic step (a Lua script in Redis): the first claim of a key wins and
 *    records the request's fingerprint as in flight; every later claim learns, as a return value,
 *    whether the key is in flight, was answered (and the copy), or was used for another request.
 *    First use vs retry is never check-then-set.
 *  - `complete` stores the answer (or only that there was one, when its body is over the bound)
 *    for `ttlMs`; `abandon` drops an in-flight claim whose request was not charged, so a retry is
 *    forwarded afresh. Both act only on the claim of `owner`, never on a later one.
 *  - An in-flight claim lapses after `holdMs` (the gateway died mid-request): the key is free again.
 */
import type { Hex } from 'viem'

/** An answer as stored: status, the headers the client got (no receipt), the body in base64. */
export type StoredAnswer = {
  readonly status: number
  readonly headers: Readonly<Record<string, string | readonly string[]>>
  readonly body: string
}

export type IdempotencyClaim =
  | { readonly kind: 'claimed' }
  | { readonly kind: 'in-flight' }
  | { readonly kind: 'mismatch' }
  /** Answered and charged before; `answer` is undefined when its body was too large to keep. */
  | { readonly kind: 'answered'; readonly answer: StoredAnswer | undefined }

export type ClaimInput = {
  readonly channelId: Hex
  /** The client's key (or a digest standing for it); stored hashed. */
  readonly key: string
  readonly fingerprint: string
  /** Who holds an in-flight claim (the request id). */
  readonly owner: string
  /** How long an in-flight claim lasts without being completed. */
  readonly holdMs: number
  readonly now: number
}

export type IdempotencyStore = {
  claim(input: ClaimInput): Promise<IdempotencyClaim>
  complete(input: {
    readonly channelId: Hex
    readonly key: string
    readonly owner: string
    readonly answer: StoredAnswer | undefined
    readonly ttlMs: number
    readonly now: number
  }): Promise<void>
  abandon(input: {
    readonly channelId: Hex
    readonly key: string
    readonly owner: string
  }): Promise<void>
}

type Entry = {
  readonly fingerprint: string
  readonly owner: string
  readonly expiresAt: number
  readonly state: 'in-flight' | 'answered'
  readonly answer: StoredAnswer | undefined
}

/** The in-process store, for the memory ledger: the same transitions, synchronously. */
export function createMemoryIdempotencyStore(
  options: { maxEntries?: number } = {},
): IdempotencyStore {
  const entries = new Map<string, Entry>()
  const maxEntries = options.maxEntries ?? 100_000
  const id = (channelId: Hex, key: string) => `${channelId.toLowerCase()} ${key}`
  const live = (k: string, now: number): Entry | undefined => {
    const entry = entries.get(k)
    if (entry && entry.expiresAt <= now) {
      entries.delete(k)
      return undefined
    }
    return entry
  }
  return {
    async claim(input) {
      const k = id(input.channelId, input.key)
      const entry = live(k, input.now)
      if (!entry) {
        // Bounded: the oldest record goes first (Map keeps insertion order).
        if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!)
        entries.set(k, {
          fingerprint: input.fingerprint,
          owner: input.owner,
          expiresAt: input.now + input.holdMs,
          state: 'in-flight',
          answer: undefined,
        })
        return { kind: 'claimed' }
      }
      if (entry.fingerprint !== input.fingerprint) return { kind: 'mismatch' }
      if (entry.state === 'in-flight') return { kind: 'in-flight' }
      return { kind: 'answered', answer: entry.answer }
    },
    async complete(input) {
      const k = id(input.channelId, input.key)
      const entry = live(k, input.now)
      if (!entry || entry.owner !== input.owner || entry.state !== 'in-flight') return
      entries.set(k, {
        ...entry,
        state: 'answered',
        answer: input.answer,
        expiresAt: input.now + input.ttlMs,
      })
    },
    async abandon(input) {
      const k = id(input.channelId, input.key)
      const entry = entries.get(k)
      if (entry && entry.owner === input.owner && entry.state === 'in-flight') entries.delete(k)
    },
  }
}
