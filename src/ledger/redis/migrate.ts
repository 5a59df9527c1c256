/**
 * `mpp-gateway migrate-keys`: moves a Redis ledger written by a version before the cluster-ready
 * key schema (docs/DESIGN.md "Redis key schema") to the current names, so the vouchers it holds —
 * the payee's only claim to that money — are read again. Run it with every gateway and settler of
 * the ledger stopped; the ledger refuses to start while keys of the earlier layout remain.
 *
 * The earlier layout lived on one Redis server (it had no Cluster support), where `RENAMENX` moves
 * a key of any type with its value and time-to-live in one step. Each key is moved once and never
 * onto an existing key: a name taken on both sides is reported and left alone. The two index keys
 * (`<prefix>unsettled`, `<prefix>intents`) are split into their buckets, then deleted. Running it
 * again finds nothing to move.
 */
import type { Redis } from 'ioredis'
import type { Hex } from 'viem'
import { redisKeys } from './keys.js'

export type MigrationReport = {
  /** Keys renamed to their current name. */
  readonly moved: number
  /** Entries copied from the two earlier index keys into their buckets. */
  readonly indexed: number
  /** Earlier keys left in place because their current name is already taken. */
  readonly conflicts: readonly string[]
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const escapeGlob = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&')

/** The current name of a key of the earlier layout, or `undefined` for any other key. */
export function currentNameOf(keyPrefix: string, key: string): string | undefined {
  const keys = redisKeys(keyPrefix)
  const p = escapeRegExp(keyPrefix)
  const channelKey = new RegExp(`^${p}(ch|lock|fence|intent):\\{(0x[0-9a-f]{64})\\}(:res)?$`)
  const channel = channelKey.exec(key)
  if (channel) {
    const [, kind, id, res] = channel
    const channelId = id as Hex
    if (kind === 'ch') return res ? keys.reservations(channelId) : keys.channel(channelId)
    if (res) return undefined
    if (kind === 'lock') return keys.lock(channelId)
    if (kind === 'fence') return keys.fence(channelId)
    return keys.intent(channelId)
  }
  const payer = new RegExp(`^${p}payer:\\{([^}]+)\\}$`).exec(key)
  if (payer) return keys.payer(payer[1]!)
  if (key === `${keyPrefix}watcher:cursor`) return keys.watcherCursor
  return undefined
}

export async function migrateLegacyKeys(
  client: Redis,
  keyPrefix: string,
): Promise<MigrationReport> {
  const keys = redisKeys(keyPrefix)
  let moved = 0
  let indexed = 0
  const conflicts: string[] = []

  const stream = client.scanStream({ match: `${escapeGlob(keyPrefix)}*`, count: 500 })
  for await (const batch of stream as AsyncIterable<string[]>) {
    for (const key of batch) {
      const target = currentNameOf(keyPrefix, key)
      if (target === undefined) continue
      if ((await client.renamenx(key, target)) === 1) moved += 1
      else conflicts.push(key)
    }
  }

  const [unsettled, intents] = keys.legacy as [string, string]
  const scored = await client.zrange(unsettled, 0, -1, 'WITHSCORES')
  for (let i = 0; i + 1 < scored.length; i += 2) {
    const member = scored[i]! as Hex
    await client.zadd(keys.unsettled(member), 'NX', scored[i + 1]!, member)
    indexed += 1
  }
  for (const member of await client.smembers(intents)) {
    await client.sadd(keys.intents(member as Hex), member)
    indexed += 1
  }
  await client.del(unsettled, intents)
  return { moved, indexed, conflicts }
}
