/**
 * The idempotency store's contract (ledger/idempotency.ts), against the memory adapter and the
 * Redis adapter on a private redis-server: one claim wins however many race, an answered key
 * replays its copy, another fingerprint is a mismatch, only the owner completes or abandons, and
 * an in-flight claim lapses.
 */
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createMemoryIdempotencyStore,
  type IdempotencyStore,
} from '../../src/ledger/idempotency.js'
import { createRedisIdempotencyStore } from '../../src/ledger/redis/idempotency.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { until } from '../support/wait.js'

const channelId: Hex = `0x${'ab'.repeat(32)}`
const answer = { status: 200, headers: { 'content-type': 'application/json' }, body: 'e30=' }
let counter = 0
const freshKey = () => `key-${++counter}`

function describeStore(name: string, make: () => Promise<IdempotencyStore>) {
  describe(`idempotency store: ${name}`, () => {
    let store: IdempotencyStore
    beforeAll(async () => {
      store = await make()
    })
    const claim = (
      key: string,
      fingerprint: string,
      owner: string,
      now = Date.now(),
      holdMs = 60_000,
    ) => store.claim({ channelId, key, fingerprint, owner, holdMs, now })

    it('lets exactly one of many racing claims win', async () => {
      const key = freshKey()
      const claims = await Promise.all(
        Array.from({ length: 20 }, (_, i) => claim(key, 'fp', `o${i}`)),
      )
      expect(claims.filter((c) => c.kind === 'claimed')).toHaveLength(1)
      expect(claims.filter((c) => c.kind === 'in-flight')).toHaveLength(19)
    })

    it('replays an answered key, refuses another fingerprint, keeps a too-large answer as answered', async () => {
      const key = freshKey()
      expect(await claim(key, 'fp', 'one')).toEqual({ kind: 'claimed' })
      // Only the owner completes.
      await store.complete({ channelId, key, owner: 'two', answer, ttlMs: 60_000, now: Date.now() })
      expect(await claim(key, 'fp', 'two')).toEqual({ kind: 'in-flight' })
      await store.complete({ channelId, key, owner: 'one', answer, ttlMs: 60_000, now: Date.now() })
      expect(await claim(key, 'fp', 'three')).toEqual({ kind: 'answered', answer })
      expect(await claim(key, 'other', 'three')).toEqual({ kind: 'mismatch' })
      // An answered key is never abandoned.
      await store.abandon({ channelId, key, owner: 'one' })
      expect(await claim(key, 'fp', 'four')).toEqual({ kind: 'answered', answer })

      const large = freshKey()
      await claim(large, 'fp', 'one')
      await store.complete({
        channelId,
        key: large,
        owner: 'one',
        answer: undefined,
        ttlMs: 60_000,
        now: Date.now(),
      })
      expect(await claim(large, 'fp', 'two')).toEqual({ kind: 'answered', answer: undefined })
    })

    it('frees an abandoned claim for its owner only', async () => {
      const key = freshKey()
      await claim(key, 'fp', 'one')
      await store.abandon({ channelId, key, owner: 'intruder' })
      expect(await claim(key, 'fp', 'two')).toEqual({ kind: 'in-flight' })
      await store.abandon({ channelId, key, owner: 'one' })
      expect(await claim(key, 'fp', 'two')).toEqual({ kind: 'claimed' })
    })

    it('lets an in-flight claim lapse after its hold', async () => {
      const key = freshKey()
      const start = Date.now()
      await claim(key, 'fp', 'one', start, 1)
      // Redis expires the claim on its own clock; the memory store by the `now` it is given.
      const next = await until('the claim to lapse', async () => {
        const c = await claim(key, 'fp', 'two', start + 2)
        return c.kind === 'in-flight' ? undefined : c
      })
      expect(next).toEqual({ kind: 'claimed' })
    })
  })
}

describeStore('memory', async () => createMemoryIdempotencyStore())

let server: RedisServer | undefined
let ledger: RedisLedger | undefined
describeStore('redis', async () => {
  server = await startRedisServer()
  ledger = await createRedisLedger({ url: server.url, keyPrefix: 'idem-contract:' })
  return createRedisIdempotencyStore({ client: ledger.client, keyPrefix: 'idem-contract:' })
})
afterAll(async () => {
  await ledger?.close()
  await server?.stop()
})
