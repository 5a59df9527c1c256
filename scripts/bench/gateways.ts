/**
 * The gateway variants the bench can run, each in its own child process: the demo configuration
 * (config/devnet.yaml through `devnetConfig`) plus the variant's edits. Rows name the variant they
 * measure; only variants some selected row names are started.
 *
 * Every variant suggests the bench deposit, so channels opened by the mppx client are large enough
 * that no window can exhaust them (see traffic.ts).
 */
import type { parseDocument } from 'yaml'
import type { Config } from '../../src/config/schema.js'
import type { DevnetClient } from '../../test/devnet/devnet.js'
import { devnetConfig } from '../../test/support/gateway.js'

/** One way to configure a gateway under test. */
export type GatewayVariant = {
  /** `false`: the plain-proxy reference (`startGateway({ payments: false })`). */
  readonly payments: boolean
  /** Edits to config/devnet.yaml, by YAML path, after the bench's own. */
  readonly edit?: (doc: ReturnType<typeof parseDocument>) => void
  /** A Redis ledger on a redis-server the bench starts, with this AOF fsync policy. */
  readonly redis?: 'always' | 'everysec'
  /**
   * A Redis ledger on a Redis Cluster the bench starts (three primaries, three replicas, AOF
   * `everysec` on every node), with this `minReplicas`.
   */
  readonly redisCluster?: { readonly minReplicas: number }
}

/** The variants, by name. Add one here to measure another configuration. */
export const gatewayVariants = {
  /** Payments off: every route forwarded free; the reference every ratio is taken against. */
  plain: { payments: false },
  /** The demo configuration with payments on, memory ledger, settler on (the default). */
  paid: { payments: true },
  /**
   * As `paid`, in a process of its own for the re-sent-voucher row: a voucher above `spent` cannot
   * be settled, so this gateway's settler stays idle instead of still settling the channels of the
   * new-voucher row while the re-sent row is measured.
   */
  paidResent: { payments: true },
  /** As `paid`, with the settler and close watcher off: the settler's cost on the request path. */
  paidNoSettler: { payments: true, edit: (doc) => doc.setIn(['settlement', 'enabled'], false) },
  /** As `paid`, on a Redis ledger with AOF `appendfsync always` (every voucher on disk). */
  paidRedisAlways: { payments: true, redis: 'always' },
  /** As `paid`, on a Redis ledger with AOF `appendfsync everysec`. */
  paidRedisEverysec: { payments: true, redis: 'everysec' },
  /** As `paidRedisEverysec`, on a Redis Cluster; no waiting for replicas. */
  paidRedisCluster: { payments: true, redisCluster: { minReplicas: 0 } },
  /** As `paidRedisCluster`, each voucher acknowledged by a replica (`WAIT 1`) before forwarding. */
  paidRedisClusterWait: { payments: true, redisCluster: { minReplicas: 1 } },
} as const satisfies Record<string, GatewayVariant>

export type GatewayName = keyof typeof gatewayVariants

/**
 * Channel deposit of the bench, in currency units (a decimal string, as gateway.yaml writes it).
 * 5,000 units at the demo price of 0.01 is 500,000 requests per channel: far more than any run.
 */
export const benchDeposit = '5000'

/** The parsed configuration of a variant for this devnet and upstream. */
export function variantConfig(options: {
  devnet: DevnetClient
  upstreamUrl: string
  variant: GatewayVariant
  /** The URL of the variant's redis-server, when it has one. */
  redisUrl?: string
  /** The seed nodes of the variant's Redis Cluster, when it has one. */
  redisClusterNodes?: readonly string[]
}): Config {
  return devnetConfig({
    devnet: options.devnet,
    upstreamUrl: options.upstreamUrl,
    edit: (doc) => {
      doc.setIn(['session', 'suggestedDeposit'], benchDeposit)
      if (options.redisUrl) {
        doc.setIn(['ledger'], {
          type: 'redis',
          redis: { url: options.redisUrl, keyPrefix: 'bench:' },
        })
      }
      if (options.redisClusterNodes && options.variant.redisCluster) {
        doc.setIn(['ledger'], {
          type: 'redis',
          redis: {
            cluster: { nodes: [...options.redisClusterNodes] },
            keyPrefix: 'bench:',
            minReplicas: options.variant.redisCluster.minReplicas,
          },
        })
      }
      options.variant.edit?.(doc)
    },
  })
}
