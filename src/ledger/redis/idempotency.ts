/**
 * The idempotency store in Redis (the port and its rules: ledger/idempotency.ts).
 *
 * Key `{<prefix><channelId>}:idem:<sha256(key)>` (keys.ts), a hash: `fp` (fingerprint), `owner`, `state`
 * (`in-flight` | `answered`), `answer` (JSON of the stored answer, absent when too large), with a
 * PX time-to-live: `holdMs` while in flight, `ttlMs` once answered. It carries its channel's hash
 * tag, so the key lives on its channel's slot. Each operation is one Lua script, run by ioredis
 * by SHA (`defineCommand`), so two gateway instances on one Redis agree on who was first.
 */
import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { RedisClient } from './connection.js'
import { redisKeys } from './keys.js'
import type { Hex } from 'viem'
import type { IdempotencyClaim, IdempotencyStore, StoredAnswer } from '../idempotency.js'
import { redisCall } from './errors.js'

const claimScript = `
local fp = redis.call('HGET', KEYS[1], 'fp')
if not fp then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'owner', ARGV[2], 'state', 'in-flight')
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return { 'claimed' }
end
if fp ~= ARGV[1] then return { 'mismatch' } end
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'in-flight' then return { 'in-flight' } end
local answer = redis.call('HGET', KEYS[1], 'answer')
if not answer then return { 'answered' } end
return { 'answered', answer }
`

const completeScript = `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'state') ~= 'in-flight' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'answered')
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'answer', ARGV[3]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`

const abandonScript = `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'state') ~= 'in-flight' then return 0 end
return redis.call('DEL', KEYS[1])
`

type IdempotencyCommands = {
  mppgwIdemClaim(key: string, fp: string, owner: string, holdMs: string): Promise<unknown>
  mppgwIdemComplete(key: string, owner: string, ttlMs: string, answer: string): Promise<unknown>
  mppgwIdemAbandon(key: string, owner: string): Promise<unknown>
}

export function createRedisIdempotencyStore(options: {
  client: RedisClient
  keyPrefix: string
}): IdempotencyStore {
  const client = options.client as Redis & IdempotencyCommands
  const keys = redisKeys(options.keyPrefix)
  client.defineCommand('mppgwIdemClaim', { numberOfKeys: 1, lua: claimScript })
  client.defineCommand('mppgwIdemComplete', { numberOfKeys: 1, lua: completeScript })
  client.defineCommand('mppgwIdemAbandon', { numberOfKeys: 1, lua: abandonScript })
  const keyOf = (channelId: Hex, key: string) =>
    keys.retry(channelId.toLowerCase() as Hex, createHash('sha256').update(key).digest('hex'))
  return {
    async claim(input) {
      const reply = await redisCall('idempotency claim', () =>
        client.mppgwIdemClaim(
          keyOf(input.channelId, input.key),
          input.fingerprint,
          input.owner,
          String(Math.max(1, Math.ceil(input.holdMs))),
        ),
      )
      return decodeClaim(reply)
    },
    async complete(input) {
      const answer = input.answer === undefined ? '' : JSON.stringify(input.answer)
      await redisCall('idempotency complete', () =>
        client.mppgwIdemComplete(
          keyOf(input.channelId, input.key),
          input.owner,
          String(Math.max(1, Math.ceil(input.ttlMs))),
          answer,
        ),
      )
    },
    async abandon(input) {
      await redisCall('idempotency abandon', () =>
        client.mppgwIdemAbandon(keyOf(input.channelId, input.key), input.owner),
      )
    },
  }
}

function decodeClaim(reply: unknown): IdempotencyClaim {
  if (!Array.isArray(reply) || typeof reply[0] !== 'string') {
    throw new Error('idempotency: unexpected reply of claim')
  }
  switch (reply[0]) {
    case 'claimed':
    case 'in-flight':
    case 'mismatch':
      return { kind: reply[0] }
    case 'answered':
      return {
        kind: 'answered',
        answer: typeof reply[1] === 'string' ? (JSON.parse(reply[1]) as StoredAnswer) : undefined,
      }
  }
  throw new Error(`idempotency: unexpected outcome ${String(reply[0])} of claim`)
}
