/**
 * Paid retries that never pay twice. A paid request is tied to a retry key — the client's
 * `Idempotency-Key`, or, without one, the credential itself (clients that mint a new key on every
 * retry re-send the same credential) — and to a fingerprint of what it asks for: method, target
 * (path and query) and a hash of its body. Before forwarding, the key is claimed in the ledger's
 * store (ledger/idempotency.ts), scoped to the paying channel:
 *
 * | claim                        | explicit key                          | the credential as key     |
 * | ---------------------------- | ------------------------------------- | ------------------------- |
 * | first                        | forward; keep the answer if charged   | same                      |
 * | same fingerprint, answered   | replay the copy, charge nothing       | same                      |
 * | same fingerprint, in flight  | 409 `idempotency-in-flight`           | same                      |
 * | other fingerprint            | 422 `idempotency-key-reused`          | forward, unguarded        |
 * | answered, copy not kept      | 409 `idempotency-answer-unavailable`  | same                      |
 *
 * Why after the credential is accepted: a stored answer is the payer's, so only a request that
 * proved it pays on that channel may see it, and the scope (the channel) is known only then. The
 * accepted voucher stays accepted (it is the payer's signed claim); the reservation is released,
 * so a replay or a refusal changes neither `spent` nor the headroom.
 *
 * Why the credential as a key only guards, never refuses: the same voucher may rightly pay for a
 * different request from headroom (docs/DESIGN.md), so another fingerprint is simply not a retry.
 *
 * What is kept: an answer whose charge was committed (a released one — an upstream failure under
 * `on-success` — drops the claim, so the retry is forwarded afresh and may be charged then), with
 * its status, headers (not the receipt) and body when the body is at most `maxBodyBytes` and
 * arrived whole; otherwise only that it was answered.
 */
import { createHash } from 'node:crypto'
import type { Hex } from 'viem'
import { GatewayError } from '../errors.js'
import type { IdempotencyStore, StoredAnswer } from '../ledger/idempotency.js'

export type RetryKey =
  | { readonly kind: 'none' }
  | { readonly kind: 'invalid' }
  | { readonly kind: 'key'; readonly key: string; readonly explicit: boolean }

/** Headers a client's key may not hold; an `sf-string` (`"…"`) is taken without its quotes. */
const keyPattern = /^[\x21-\x7e]{1,255}$/

/** The retry key of a paid request: its `Idempotency-Key`, else its credential. */
export function retryKeyOf(options: {
  readonly idempotencyKey: string | string[] | undefined
  readonly credential: string | undefined
}): RetryKey {
  const { idempotencyKey } = options
  if (Array.isArray(idempotencyKey)) return { kind: 'invalid' }
  if (idempotencyKey !== undefined) {
    const trimmed = idempotencyKey.trim()
    const key = /^".*"$/.test(trimmed) ? trimmed.slice(1, -1) : trimmed
    return keyPattern.test(key)
      ? { kind: 'key', key: `k:${key}`, explicit: true }
      : { kind: 'invalid' }
  }
  if (options.credential === undefined) return { kind: 'none' }
  const digest = createHash('sha256').update(options.credential).digest('hex')
  return { kind: 'key', key: `c:${digest}`, explicit: false }
}

/** What a request asks for: method, target (path and query as sent) and its body's hash. */
export function fingerprintOf(options: {
  readonly method: string
  readonly target: string
  readonly body: Buffer
}): string {
  const body = createHash('sha256').update(options.body).digest('hex')
  return createHash('sha256')
    .update(`${options.method.toUpperCase()}\n${options.target}\n${body}`)
    .digest('hex')
}

/** Keeps what the client was sent, up to the bound, to store it once the charge is known. */
export type AnswerRecorder = {
  head(status: number, headers: Readonly<Record<string, string | string[]>>): void
  chunk(chunk: Buffer): void
  /** The exchange is over: keep the answer if it was charged, else free the key (once). */
  finish(outcome: { readonly charged: boolean; readonly complete: boolean }): Promise<void>
}

export type RetryDecision =
  | { readonly kind: 'forward'; readonly recorder: AnswerRecorder | undefined }
  | { readonly kind: 'replay'; readonly answer: StoredAnswer }
  | { readonly kind: 'refuse'; readonly error: GatewayError }

export type RetryGuard = {
  check(options: {
    readonly channelId: Hex
    readonly key: RetryKey & { kind: 'key' }
    readonly fingerprint: string
    readonly owner: string
    /** How long the claim holds while in flight: the reservation's remaining life. */
    readonly holdMs: number
  }): Promise<RetryDecision>
}

/** Headers never kept: the receipt is per answer, the rest per request or per connection. */
const unkept = new Set(['payment-receipt', 'x-request-id', 'date', 'connection', 'keep-alive'])

export function createRetryGuard(options: {
  readonly store: IdempotencyStore
  /** How long an answer under an `Idempotency-Key` is kept. */
  readonly ttlMs: number
  /**
   * How long an answer under a credential is kept: a credential is refused once its challenge
   * expires, so keeping it longer than a challenge's lifetime would only cost store memory.
   */
  readonly credentialTtlMs: number
  readonly maxBodyBytes: number
  readonly now: () => number
}): RetryGuard {
  const { store, now } = options
  return {
    async check({ channelId, key, fingerprint, owner, holdMs }) {
      const claim = await store.claim({
        channelId,
        key: key.key,
        fingerprint,
        owner,
        holdMs,
        now: now(),
      })
      switch (claim.kind) {
        case 'claimed': {
          const ttlMs = key.explicit
            ? options.ttlMs
            : Math.min(options.ttlMs, options.credentialTtlMs)
          return { kind: 'forward', recorder: recorder({ channelId, key: key.key, owner }, ttlMs) }
        }
        case 'mismatch':
          if (!key.explicit) return { kind: 'forward', recorder: undefined }
          return {
            kind: 'refuse',
            error: new GatewayError(
              'idempotency-key-reused',
              'This Idempotency-Key was used for another request (method, path, query or body differ).',
            ),
          }
        case 'in-flight':
          return {
            kind: 'refuse',
            error: new GatewayError(
              'idempotency-in-flight',
              'The same request is still being answered; retry to get its answer.',
              { retryAfter: 1 },
            ),
          }
        case 'answered':
          if (claim.answer) return { kind: 'replay', answer: claim.answer }
          return {
            kind: 'refuse',
            error: new GatewayError(
              'idempotency-answer-unavailable',
              'This request was answered and charged already; its answer was too large to keep.',
              { details: { maxBodyBytes: options.maxBodyBytes } },
            ),
          }
      }
    },
  }

  function recorder(
    at: { channelId: Hex; key: string; owner: string },
    ttlMs: number,
  ): AnswerRecorder {
    let status: number | undefined
    let headers: Record<string, string | readonly string[]> = {}
    const chunks: Buffer[] = []
    let size = 0
    let tooLarge = false
    let finished: Promise<void> | undefined
    return {
      head(s, h) {
        status = s
        headers = Object.fromEntries(
          Object.entries(h).filter(([name]) => !unkept.has(name.toLowerCase())),
        )
      },
      chunk(chunk) {
        if (tooLarge) return
        size += chunk.length
        if (size > options.maxBodyBytes) {
          tooLarge = true
          chunks.length = 0
        } else {
          chunks.push(chunk)
        }
      },
      finish(outcome) {
        finished ??= settle(outcome)
        return finished
      },
    }

    async function settle({ charged, complete }: { charged: boolean; complete: boolean }) {
      if (!charged) return store.abandon(at)
      const kept =
        status !== undefined && complete && !tooLarge
          ? { status, headers, body: Buffer.concat(chunks).toString('base64') }
          : undefined
      await store.complete({ ...at, answer: kept, ttlMs, now: now() })
    }
  }
}
