/**
 * Every Redis key the gateway uses, ledger and settlement store alike, built in one place (the
 * schema, with types and lifetimes, is docs/DESIGN.md "Redis key schema"):
 *
 *  - `<prefix>ch:{<channelId>}`      hash: the channel record (fields: record.ts)
 *  - `<prefix>ch:{<channelId>}:res`  hash: reservation id → "<amount> <expiresAt ms>"
 *  - `<prefix>unsettled`             sorted set: channel id, scored by the ms its value first went
 *                                    unsettled — a hint for the settler (unsettled-index.ts)
 *  - `<prefix>lock:{<channelId>}`    string "<owner>|<fence>" with a PX time-to-live: the
 *                                    channel's settlement lock (settlement-store.ts)
 *  - `<prefix>fence:{<channelId>}`   integer: the channel's last fencing number; expires with the
 *                                    finalized channel (scripts.ts, settlement-scripts.ts)
 *  - `<prefix>intent:{<channelId>}`  hash: the settlement transaction pending for the channel
 *  - `<prefix>intents`               set: channel ids with an intent — a hint for restarts
 *  - `<prefix>watcher:cursor`        string: the last block the close watcher processed
 *  - `<prefix>idem:{<channelId>}:<sha256>`  hash: a paid request's retry record, with a PX
 *                                    time-to-live (built in idempotency.ts, on the channel's slot)
 *  - `<prefix>payer:{<payer>}`       set: the ids of the channels a payer (lower-cased address)
 *                                    opened and that are not known finalized — how a client that
 *                                    lost its local state finds its channel (payers.ts)
 *
 * The channel id is lower-cased and wrapped in `{…}`, a Redis Cluster hash tag: all keys of one
 * channel hash to one slot, so each script (which touches only keys of one channel) also runs on
 * a cluster. The `unsettled` and `intents` sets, the payer sets and the cursor live on other slots
 * and are never touched by a script.
 */
import type { Hex } from 'viem'

export type RedisKeys = {
  channel(channelId: Hex): string
  reservations(channelId: Hex): string
  readonly unsettled: string
  /** A `SCAN MATCH` pattern for every channel hash (not `:res` keys), the prefix escaped. */
  readonly channelPattern: string
  lock(channelId: Hex): string
  fence(channelId: Hex): string
  intent(channelId: Hex): string
  readonly intents: string
  readonly watcherCursor: string
  /** The set of a payer's channel ids (the payer's own hash tag). */
  payer(payer: string): string
}

/** Escapes Redis glob characters for `SCAN MATCH`. */
const globEscape = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&')

/** The keys under `keyPrefix`, for lower-cased channel ids (record.ts `channelKeyId`). */
export function redisKeys(keyPrefix: string): RedisKeys {
  return {
    channel: (channelId) => `${keyPrefix}ch:{${channelId}}`,
    reservations: (channelId) => `${keyPrefix}ch:{${channelId}}:res`,
    unsettled: `${keyPrefix}unsettled`,
    channelPattern: `${globEscape(keyPrefix)}ch:{*}`,
    lock: (channelId) => `${keyPrefix}lock:{${channelId}}`,
    fence: (channelId) => `${keyPrefix}fence:{${channelId}}`,
    intent: (channelId) => `${keyPrefix}intent:{${channelId}}`,
    intents: `${keyPrefix}intents`,
    watcherCursor: `${keyPrefix}watcher:cursor`,
    payer: (payer) => `${keyPrefix}payer:{${payer.toLowerCase()}}`,
  }
}
