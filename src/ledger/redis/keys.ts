/**
 * Every Redis key the gateway uses, ledger and settlement store alike, built in one place (the
 * schema, with types and lifetimes, is docs/DESIGN.md "Redis key schema"):
 *
 *  - `{<prefix><channelId>}:ch`      hash: the channel record (fields: record.ts)
 *  - `{<prefix><channelId>}:res`     hash: reservation id → "<amount> <expiresAt ms>"
 *  - `{<prefix><channelId>}:lock`    string "<owner>|<fence>" with a PX time-to-live: the
 *                                    channel's settlement lock (settlement-store.ts)
 *  - `{<prefix><channelId>}:fence`   integer: the channel's last fencing number; expires with the
 *                                    finalized channel (scripts.ts, settlement-scripts.ts)
 *  - `{<prefix><channelId>}:intent`  hash: the settlement transaction pending for the channel
 *  - `{<prefix>unsettled:<b>}`       sorted set, one per bucket `b` (0…15): channel id, scored by the
 *                                    ms its value first went unsettled — a hint for the settler
 *                                    (unsettled-index.ts)
 *  - `{<prefix>intents:<b>}`         set, one per bucket: channel ids with an intent — a hint for
 *                                    restarts
 *  - `{<prefix>payer:<payer>}`       set: the ids of the channels a payer (lower-cased address)
 *                                    opened and that are not known finalized (payers.ts)
 *  - `{<prefix>watcher}:cursor`      string: the last block the close watcher processed
 *  - `{<prefix><channelId>}:idem:<sha256>`  hash: a paid request's retry record, with a PX
 *                                    time-to-live (idempotency.ts), on the channel's slot
 *  - `{<prefix>blocked}`            hash: lower-cased payer address → the operator's block
 *                                    (`{"since","reason"}` JSON), read before a voucher (blocks.ts)
 *  - `{<prefix>limit:<key>}`         string: a rate limit's theoretical arrival time (GCRA), with a
 *                                    PX time-to-live (limits/redis-script.ts)
 *  - `{<prefix>payment:<txHash>}`   string: the owner of a one-shot payment's single-use claim,
 *                                    with a PXAT time-to-live (payment-scripts.ts)
 *
 * Why the braces: Redis Cluster hashes only the text between the first `{` and the next `}` (the
 * hash tag) to pick a key's slot. Every key of one channel carries the same tag, so each script —
 * which touches only keys of one channel — runs on one slot, on a cluster as on a single server.
 * The prefix sits inside the tag, so it cannot itself become the tag (and put every key on one
 * slot); it may therefore contain neither `{` nor `}`.
 *
 * Why buckets: one `unsettled` key would be one slot, i.e. one cluster node taking a write for
 * every channel that goes unsettled. A channel's bucket is fixed by its id (a keccak hash, so
 * uniform), and sixteen buckets land on every master of any usual cluster. Readers merge the
 * buckets (unsettled-index.ts). A payment claim is touched only by its own
 * scripts, alone.
 */
import type { Hex } from 'viem'

/** How many buckets the unsettled index and the intents set are split into. */
export const indexBuckets = 16

export type RedisKeys = {
  channel(channelId: Hex): string
  reservations(channelId: Hex): string
  lock(channelId: Hex): string
  fence(channelId: Hex): string
  intent(channelId: Hex): string
  /** The unsettled-index bucket that holds `channelId`. */
  unsettled(channelId: Hex): string
  /** Every unsettled-index bucket. */
  readonly unsettledBuckets: readonly string[]
  /** The intents bucket that holds `channelId`. */
  intents(channelId: Hex): string
  /** Every intents bucket. */
  readonly intentsBuckets: readonly string[]
  /** A `SCAN MATCH` pattern for every channel hash (not the other keys), the prefix escaped. */
  readonly channelPattern: string
  /** The channel id of a key matched by `channelPattern`, if it is one. */
  channelIdOf(key: string): Hex | undefined
  readonly watcherCursor: string
  /** The set of a payer's channel ids (the payer's own hash tag). */
  payer(payer: string): string
  /**
   * The two keys of the layout before buckets (`<prefix>unsettled`, `<prefix>intents`); when one
   * exists the Redis holds ledger data this version does not read (ledger.ts refuses to start).
   */
  readonly legacy: readonly string[]
  /** The single-use claim of a one-shot payment (its lower-cased transaction hash). */
  payment(key: string): string
  /** A paid request's retry record (idempotency.ts), on its channel's slot. */
  retry(channelId: Hex, digest: string): string
  /** A rate limit's state (limits/redis.ts); `key` names the limit and whom it counts. */
  limit(key: string): string
  /** The hash of blocked payers. */
  readonly blocked: string
}

/** Escapes Redis glob characters for `SCAN MATCH`. */
const globEscape = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&')

/** The bucket of a lower-cased channel id: its last four hex digits modulo `indexBuckets`. */
export function bucketOf(channelId: Hex): number {
  return Number.parseInt(channelId.slice(-4), 16) % indexBuckets
}

const buckets = Array.from({ length: indexBuckets }, (_, b) => b)

/** Rejects a prefix that would break the hash tags. */
export function checkKeyPrefix(keyPrefix: string): void {
  if (/[{}]/.test(keyPrefix)) {
    throw new TypeError('ledger: the Redis key prefix may not contain { or }')
  }
}

/** The keys under `keyPrefix`, for lower-cased channel ids (record.ts `channelKeyId`). */
export function redisKeys(keyPrefix: string): RedisKeys {
  checkKeyPrefix(keyPrefix)
  const tagged = (channelId: Hex, kind: string) => `{${keyPrefix}${channelId}}:${kind}`
  const unsettled = (b: number) => `{${keyPrefix}unsettled:${b}}`
  const intents = (b: number) => `{${keyPrefix}intents:${b}}`
  const channelKey = new RegExp(
    `^\\{${keyPrefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(0x[0-9a-f]{64})\\}:ch$`,
  )
  return {
    channel: (channelId) => tagged(channelId, 'ch'),
    reservations: (channelId) => tagged(channelId, 'res'),
    lock: (channelId) => tagged(channelId, 'lock'),
    fence: (channelId) => tagged(channelId, 'fence'),
    intent: (channelId) => tagged(channelId, 'intent'),
    unsettled: (channelId) => unsettled(bucketOf(channelId)),
    unsettledBuckets: buckets.map(unsettled),
    intents: (channelId) => intents(bucketOf(channelId)),
    intentsBuckets: buckets.map(intents),
    channelPattern: `{${globEscape(keyPrefix)}0x*}:ch`,
    channelIdOf: (key) => channelKey.exec(key)?.[1] as Hex | undefined,
    watcherCursor: `{${keyPrefix}watcher}:cursor`,
    payer: (payer) => `{${keyPrefix}payer:${payer.toLowerCase()}}`,
    payment: (key) => `{${keyPrefix}payment:${key.toLowerCase()}}`,
    retry: (channelId, digest) => tagged(channelId, `idem:${digest}`),
    limit: (key) => `{${keyPrefix}limit:${key}}`,
    blocked: `{${keyPrefix}blocked}`,
    legacy: [`${keyPrefix}unsettled`, `${keyPrefix}intents`],
  }
}
