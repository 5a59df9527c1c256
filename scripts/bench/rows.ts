/**
 * The rows of `npm run bench`, as a table. A row names the process it measures (the upstream or a
 * gateway variant from gateways.ts), the status every answer must have, and its traffic
 * (traffic.ts); targets are ratios of the reference row's gateway CPU per request to the row's
 * (steadier than req/s on a shared box: a row at 0.5 costs twice the plain proxy's CPU), or, in
 * the one-connection table, milliseconds of p99 latency added over the reference.
 *
 * To add a row: add an entry below (and, for a new configuration, a variant in gateways.ts), e.g.
 *
 *   { id: 'paid-redis', label: 'paid, new voucher, Redis ledger', target: 'paidRedis',
 *     expectStatus: 200, traffic: newVoucherEachRequest({ path: paidPath }) },
 */
import type { GatewayName } from './gateways.js'
import {
  newVoucherEachRequest,
  oneVoucherResent,
  sameRequest,
  type TrafficFactory,
} from './traffic.js'

/** One measured row. */
export type RowSpec = {
  /** Short name, for `--rows=` and the tables. */
  readonly id: string
  readonly label: string
  /** The process the load generator talks to. */
  readonly target: 'upstream' | GatewayName
  readonly expectStatus: number
  readonly traffic: TrafficFactory
  /** The row every ratio is taken against (exactly one). */
  readonly reference?: true
  /** Target: the reference's CPU µs per request over this row's, at least this, in the same run. */
  readonly minCpuRatio?: number
  /** Also measured at one connection; with a target on the p99 it may add over the reference. */
  readonly oneConnection?: { readonly maxAddedP99Ms?: number }
}

/** A priced route of config/devnet.yaml (0.01 per request, charged on success). */
export const paidPath = '/v1/execution/bench/results'
/** A free route of config/devnet.yaml. */
export const freePath = '/v1/execution/bench/status'

/** The rows, measured in this order in every round. */
export const rows: readonly RowSpec[] = [
  {
    id: 'upstream',
    label: 'upstream alone',
    target: 'upstream',
    expectStatus: 200,
    traffic: sameRequest({ path: paidPath }),
  },
  {
    id: 'plain',
    label: 'gateway, payments off',
    target: 'plain',
    expectStatus: 200,
    traffic: sameRequest({ path: paidPath }),
    reference: true,
    oneConnection: {},
  },
  {
    id: 'free',
    label: 'free route',
    target: 'paid',
    expectStatus: 200,
    traffic: sameRequest({ path: freePath }),
    minCpuRatio: 0.9,
  },
  {
    id: 'challenge',
    label: '402 challenge',
    target: 'paid',
    expectStatus: 402,
    traffic: sameRequest({ path: paidPath }),
    minCpuRatio: 0.8,
  },
  {
    id: 'new-voucher',
    label: 'paid, new voucher each',
    target: 'paid',
    expectStatus: 200,
    traffic: newVoucherEachRequest({ path: paidPath }),
    minCpuRatio: 0.3,
    oneConnection: { maxAddedP99Ms: 1 },
  },
  {
    id: 'same-voucher',
    label: 'paid, one voucher resent',
    target: 'paidResent',
    expectStatus: 200,
    traffic: oneVoucherResent({ path: paidPath }),
    minCpuRatio: 0.65,
    oneConnection: { maxAddedP99Ms: 0.5 },
  },
  {
    id: 'settler-off',
    label: 'paid, new voucher, settler off',
    target: 'paidNoSettler',
    expectStatus: 200,
    traffic: newVoucherEachRequest({ path: paidPath }),
    oneConnection: {},
  },
  {
    id: 'redis-always',
    label: 'paid, new voucher, Redis (fsync always)',
    target: 'paidRedisAlways',
    expectStatus: 200,
    traffic: newVoucherEachRequest({ path: paidPath }),
    oneConnection: {},
  },
  {
    id: 'redis-everysec',
    label: 'paid, new voucher, Redis (fsync everysec)',
    target: 'paidRedisEverysec',
    expectStatus: 200,
    traffic: newVoucherEachRequest({ path: paidPath }),
    minCpuRatio: 0.25,
    oneConnection: {},
  },
  {
    id: 'redis-cluster',
    label: 'paid, new voucher, Redis Cluster 3+3 (everysec)',
    target: 'paidRedisCluster',
    expectStatus: 200,
    traffic: newVoucherEachRequest({ path: paidPath }),
    oneConnection: {},
  },
  {
    id: 'cluster-wait',
    label: 'paid, new voucher, Redis Cluster, minReplicas 1',
    target: 'paidRedisClusterWait',
    expectStatus: 200,
    traffic: newVoucherEachRequest({ path: paidPath }),
    oneConnection: {},
  },
]
