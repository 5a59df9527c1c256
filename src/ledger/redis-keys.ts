/**
 * The ledger's Redis key schema (documented in docs/DESIGN.md "Redis key schema").
 *
 *  - `<prefix>ch:{<channelId>}`      hash: the channel record (fields: src/ledger/redis-record.ts)
 *  - `<prefix>ch:{<channelId>}:res`  hash: reservation id → "<amount> <expiresAt ms>"
 *  - `<prefix>unsettled`             sorted set: channel id, scored by the ms its value first went
 *                                    unsettled — a hint for the settler (redis-index.ts)
 *  - `<prefix>payer:{<payer>}`       set: the ids of the channels a payer (lower-cased address)
 *                                    opened and that are not known finalized — how a client that
 *                                    lost its local state finds its channel (redis-payers.ts)
 *
 * The channel id is lower-cased and wrapped in `{…}`, a Redis Cluster hash tag: both keys of a
 * channel hash to one slot, so each ledger script (which touches exactly those two keys) also runs
 * on a cluster. The unsettled index and the payer sets live on other slots and are never touched
 * by a script.
 */
import type { Hex } from 'viem'

export type LedgerKeys = {
  channel(channelId: Hex): string
  reservations(channelId: Hex): string
  readonly unsettled: string
  /** The set of a payer's channel ids (the payer's own hash tag). */
  payer(payer: string): string
  /** A `SCAN MATCH` pattern for every channel hash, not `:res` keys (prefix without glob chars). */
  readonly channelPattern: string
}

/** The keys under `keyPrefix` for lower-cased channel ids. */
export function ledgerKeys(keyPrefix: string): LedgerKeys {
  return {
    channel: (channelId) => `${keyPrefix}ch:{${channelId}}`,
    reservations: (channelId) => `${keyPrefix}ch:{${channelId}}:res`,
    unsettled: `${keyPrefix}unsettled`,
    payer: (payer) => `${keyPrefix}payer:{${payer.toLowerCase()}}`,
    channelPattern: `${keyPrefix}ch:{*}`,
  }
}
