/**
 * Whether Redis keeps what the ledger writes: the highest voucher a payer signed is the payee's
 * only claim on the escrow, and the gateway answers a paid request only after Redis acknowledged
 * the voucher. If Redis then loses that write, the operator served an answer it can no longer
 * collect for.
 *
 * What each setting risks (a crash of the Redis *host*: power loss, kernel panic, VM loss):
 *  - `appendonly yes` + `appendfsync always`: nothing; every write is on disk before it is
 *    acknowledged (`risk: 'none'`);
 *  - `appendonly yes` + `appendfsync everysec`: up to about one second of acknowledged writes
 *    (two in the worst case). A crash of the redis-server *process* alone loses nothing: its
 *    writes are already in the kernel's page cache (`'up-to-1s'`);
 *  - `appendonly yes` + `appendfsync no`: whatever the kernel had not flushed, typically up to
 *    30 s on Linux; Redis cannot bound it (`'unknown'`);
 *  - `appendonly no`: everything since the last RDB snapshot — everything, if snapshots are off
 *    (`'all-since-last-save'`);
 *  - `CONFIG` renamed or forbidden (managed services): cannot tell (`'unknown'`).
 *
 * Eviction is the other way to lose a ledger key: any `allkeys-*` `maxmemory-policy` may drop a
 * live channel. The ledger needs `noeviction` (or a `volatile-*` policy, which only evicts keys
 * with a TTL: finalized channels).
 */
import type { Redis } from 'ioredis'
import { primariesOf, type LedgerLogger, type RedisClient } from './connection.js'
import { isReplyError, ledgerFailure } from './errors.js'

export type DurabilityRisk = 'none' | 'up-to-1s' | 'all-since-last-save' | 'unknown'

/** What Redis reports about its persistence, and what an accepted voucher risks. */
export type DurabilityReport = {
  readonly appendonly: 'yes' | 'no' | 'unknown'
  readonly appendfsync: 'always' | 'everysec' | 'no' | 'unknown'
  /** `maxmemory-policy` as Redis reports it, or `unknown`. */
  readonly maxmemoryPolicy: string
  readonly risk: DurabilityRisk
  readonly message: string
}

const lossWarning = 'an acknowledged voucher (the payee’s only claim) could be lost'

/** Builds the report from the values of `CONFIG GET` (undefined: not readable). */
export function durabilityOf(
  config: Readonly<Record<string, string>> | undefined,
): DurabilityReport {
  if (config === undefined) {
    return {
      appendonly: 'unknown',
      appendfsync: 'unknown',
      maxmemoryPolicy: 'unknown',
      risk: 'unknown',
      message: `Redis does not allow CONFIG GET, so its persistence is unknown: ${lossWarning} on a crash of the Redis host. Check that it runs with appendonly yes and appendfsync always.`,
    }
  }
  const appendonly =
    config.appendonly === 'yes' || config.appendonly === 'no' ? config.appendonly : 'unknown'
  const fsync = config.appendfsync
  const appendfsync =
    fsync === 'always' || fsync === 'everysec' || fsync === 'no' ? fsync : 'unknown'
  const maxmemoryPolicy = config['maxmemory-policy'] ?? 'unknown'
  const base = { appendonly, appendfsync, maxmemoryPolicy } as const
  if (appendonly === 'no') {
    const snapshots = config.save === '' ? ' and RDB snapshots are off, so that is everything' : ''
    return {
      ...base,
      risk: 'all-since-last-save',
      message: `Redis runs without an append-only file: on a restart or crash ${lossWarning}, with every write since the last RDB snapshot${snapshots}. Set appendonly yes and appendfsync always (config/redis.conf).`,
    }
  }
  if (appendonly === 'yes' && appendfsync === 'always') {
    return { ...base, risk: 'none', message: 'Redis fsyncs every write before acknowledging it.' }
  }
  if (appendonly === 'yes' && appendfsync === 'everysec') {
    return {
      ...base,
      risk: 'up-to-1s',
      message: `Redis fsyncs its append-only file once a second: on a power loss or kernel crash of the Redis host ${lossWarning} if it was acknowledged in the last second or so. Set appendfsync always (config/redis.conf gives its measured cost).`,
    }
  }
  return {
    ...base,
    risk: 'unknown',
    message: `Redis runs with appendonly ${appendonly} and appendfsync ${appendfsync}: the kernel decides when writes reach the disk, so on a crash of the Redis host ${lossWarning}. Set appendfsync always.`,
  }
}

/** How bad a risk is, for picking the worst primary of a Cluster. */
const riskRank: Readonly<Record<DurabilityRisk, number>> = {
  none: 0,
  'up-to-1s': 1,
  unknown: 2,
  'all-since-last-save': 3,
}

/**
 * Reads the persistence settings of the ledger's Redis (one `CONFIG GET` per primary) and reports
 * the worst primary: on a Cluster every primary holds some channels, so the weakest one bounds
 * what an accepted voucher risks.
 */
export async function readDurability(client: RedisClient): Promise<DurabilityReport> {
  const reports = await Promise.all(primariesOf(client).map(readOne))
  const worst = reports.reduce<DurabilityReport | undefined>((found, report) => {
    if (found === undefined) return report
    if (riskRank[report.risk] > riskRank[found.risk]) return report
    if (evictsLiveKeys(report.maxmemoryPolicy) && !evictsLiveKeys(found.maxmemoryPolicy)) {
      return { ...found, maxmemoryPolicy: report.maxmemoryPolicy }
    }
    return found
  }, undefined)
  return worst ?? durabilityOf(undefined)
}

async function readOne(client: Redis): Promise<DurabilityReport> {
  let reply: unknown
  try {
    reply = await client.config('GET', 'appendonly', 'appendfsync', 'maxmemory-policy', 'save')
  } catch (error) {
    // CONFIG renamed away, disabled or forbidden by an ACL: the server answered, but not this.
    if (isReplyError(error) && /^(ERR unknown command|NOPERM)/.test(error.message)) {
      return durabilityOf(undefined)
    }
    throw ledgerFailure(error, 'CONFIG GET')
  }
  if (!Array.isArray(reply)) return durabilityOf(undefined)
  const config: Record<string, string> = {}
  for (let i = 0; i + 1 < reply.length; i += 2) config[String(reply[i])] = String(reply[i + 1])
  return durabilityOf(config)
}

/** Whether a `maxmemory-policy` may evict keys without a TTL, i.e. live ledger channels. */
const evictsLiveKeys = (policy: string) => policy.startsWith('allkeys-')

/**
 * Startup check: warns when an acknowledged voucher could be lost (crash or eviction), and throws
 * when `requireDurable` is set and the risk is anything but `none`.
 */
export function checkDurability(
  report: DurabilityReport,
  options: { readonly requireDurable: boolean; readonly logger: LedgerLogger },
): void {
  const problems: string[] = []
  if (report.risk !== 'none') problems.push(report.message)
  if (evictsLiveKeys(report.maxmemoryPolicy)) {
    problems.push(
      `Redis maxmemory-policy is ${report.maxmemoryPolicy}: when memory runs out it evicts live channels, losing their vouchers. Set maxmemory-policy noeviction.`,
    )
  }
  if (problems.length === 0) return
  const { appendonly, appendfsync, maxmemoryPolicy, risk } = report
  for (const problem of problems) {
    options.logger.warn({ redis: { appendonly, appendfsync, maxmemoryPolicy, risk } }, problem)
  }
  if (options.requireDurable) {
    throw new Error(
      `ledger.redis.requireDurable is set, but Redis is not durable: ${problems.join(' ')}`,
    )
  }
}
