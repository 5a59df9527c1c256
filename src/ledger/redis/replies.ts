/**
 * Decoding what the scripts reply — the ledger's (scripts.ts) and the settlement store's
 * (settlement-scripts.ts) — into named records, so no caller reads a reply by position. A reply is
 * a flat array: the outcome kind, then figures as decimal strings in the order written above each
 * script (a record-returning script sends the channel hash as one nested array instead). The
 * layouts are written here once, as lists of field names, next to the decoder that reads them.
 *
 * A reply that does not fit its layout (an unknown kind, a missing figure) is a defect — the
 * scripts and this file out of step — and throws a plain `Error` naming the script, never a
 * ledger outcome.
 */
import type { Hex } from 'viem'
import type { AuthorizeResult, ChannelRecord, ChannelSnapshot, VoucherRejection } from '../port.js'
import { decodeRecord } from './record.js'
import type { ScriptName } from './script-runner.js'

/** The figures a charging reply carries, in script order (lua-channel.ts `snapshot_of`). */
const snapshotFields = ['accepted', 'spent', 'units', 'reserved', 'deposit'] as const

/** Reply layouts after the kind, by script and outcome. */
const layouts = {
  authorized: ['voucher', ...snapshotFields, 'newlyUnsettled', 'settleable'],
  insufficient: ['available', ...snapshotFields],
  voucherRejected: ['reason', ...snapshotFields],
  committed: [...snapshotFields, 'newlyUnsettled', 'settleable'],
  released: [...snapshotFields],
} as const

type Named<N extends readonly string[]> = { readonly [K in N[number]]: string }

/** A script reply split into its outcome kind and the parts after it. */
type Split = { readonly kind: string; readonly parts: readonly unknown[] }

const unexpected = (script: ScriptName, what: string) =>
  new Error(`Redis: unexpected reply from script ${script}: ${what}`)

function split(reply: unknown, script: ScriptName): Split {
  if (!Array.isArray(reply) || typeof reply[0] !== 'string') throw unexpected(script, 'no kind')
  return { kind: reply[0], parts: reply.slice(1) }
}

/** Names the string parts of a reply in layout order; throws when one is missing. */
function named<const N extends readonly string[]>(
  parts: readonly unknown[],
  names: N,
  script: ScriptName,
): Named<N> {
  const out: Record<string, string> = {}
  names.forEach((name, i) => {
    const value = parts[i]
    if (typeof value !== 'string') throw unexpected(script, `no ${name}`)
    out[name] = value
  })
  return out as Named<N>
}

const snapshotOf = (channelId: Hex, f: Named<typeof snapshotFields>): ChannelSnapshot => ({
  channelId,
  accepted: BigInt(f.accepted),
  spent: BigInt(f.spent),
  units: Number(f.units),
  reserved: BigInt(f.reserved),
  deposit: BigInt(f.deposit),
})

/** The outcome of a script that replies with its kind alone, checked against `kinds`. */
export function decodeOutcome<const K extends string>(
  reply: unknown,
  script: ScriptName,
  kinds: readonly K[],
): K {
  const { kind } = split(reply, script)
  const known = kinds.find((k) => k === kind)
  if (known === undefined) throw unexpected(script, `kind ${kind}`)
  return known
}

/** The reply of `acquireLock`: the lease's new fencing number, or the lock held by another. */
export function decodeAcquireReply(
  reply: unknown,
): { readonly kind: 'acquired'; readonly fence: number } | { readonly kind: 'held' } {
  const { kind, parts } = split(reply, 'acquireLock')
  switch (kind) {
    case 'acquired': {
      const fence = Number(named(parts, ['fence'], 'acquireLock').fence)
      if (!Number.isSafeInteger(fence)) throw unexpected('acquireLock', `fence ${fence}`)
      return { kind, fence }
    }
    case 'held':
      return { kind }
  }
  throw unexpected('acquireLock', `kind ${kind}`)
}

/**
 * A reply of `open` or of a record-updating transition: the kind, and the channel record when
 * the script sent its hash (`{'ok' | 'created' | 'exists', fields}`).
 */
export function decodeRecordReply(
  reply: unknown,
  script: ScriptName,
): { readonly kind: string; readonly channel: ChannelRecord | undefined } {
  const { kind, parts } = split(reply, script)
  const fields = parts[0]
  if (fields === undefined) return { kind, channel: undefined }
  if (!Array.isArray(fields)) throw unexpected(script, 'record is not a hash')
  const record: Record<string, string> = {}
  for (let i = 0; i + 1 < fields.length; i += 2) {
    record[String(fields[i])] = String(fields[i + 1])
  }
  return { kind, channel: decodeRecord(record) }
}

/** The ledger port's authorize result, plus what only the Redis adapter needs to know. */
export type AuthorizeReply =
  | (Extract<AuthorizeResult, { kind: 'authorized' }> & {
      /** This charge made the channel unsettled for the first time: index it. */
      readonly newlyUnsettled: boolean
    })
  | Exclude<AuthorizeResult, { kind: 'authorized' }>
  | { readonly kind: 'reservation-incomplete' }

const voucherOutcomes = ['new', 'same', 'lower', 'none'] as const
const rejections: readonly VoucherRejection[] = [
  'not-increasing',
  'exceeds-deposit',
  'delta-too-small',
]

/** The reply of `authorize` (layout above the script in scripts.ts). */
export function decodeAuthorizeReply(channelId: Hex, reply: unknown): AuthorizeReply {
  const { kind, parts } = split(reply, 'authorize')
  switch (kind) {
    case 'authorized': {
      const f = named(parts, layouts.authorized, 'authorize')
      const voucher = voucherOutcomes.find((v) => v === f.voucher)
      if (!voucher) throw unexpected('authorize', `voucher outcome ${f.voucher}`)
      return {
        kind,
        voucher,
        snapshot: snapshotOf(channelId, f),
        settleable: BigInt(f.settleable),
        newlyUnsettled: f.newlyUnsettled === '1',
      }
    }
    case 'insufficient': {
      const f = named(parts, layouts.insufficient, 'authorize')
      return { kind, available: BigInt(f.available), snapshot: snapshotOf(channelId, f) }
    }
    case 'voucher-rejected': {
      const f = named(parts, layouts.voucherRejected, 'authorize')
      const reason = rejections.find((r) => r === f.reason)
      if (!reason) throw unexpected('authorize', `rejection ${f.reason}`)
      return { kind, reason, snapshot: snapshotOf(channelId, f) }
    }
    case 'not-found':
    case 'closing':
    case 'finalized':
    case 'reservation-incomplete':
      return { kind }
  }
  throw unexpected('authorize', `kind ${kind}`)
}

export type CommitReply =
  | {
      readonly kind: 'committed'
      readonly snapshot: ChannelSnapshot
      readonly settleable: bigint
      /** This commit made the channel unsettled for the first time: index it. */
      readonly newlyUnsettled: boolean
    }
  | { readonly kind: 'missing' }
  | { readonly kind: 'finalized' }
  | { readonly kind: 'over-reservation' }

/** The reply of `commit` (layout above the script in scripts.ts). */
export function decodeCommitReply(channelId: Hex, reply: unknown): CommitReply {
  const { kind, parts } = split(reply, 'commit')
  switch (kind) {
    case 'committed': {
      const f = named(parts, layouts.committed, 'commit')
      return {
        kind,
        snapshot: snapshotOf(channelId, f),
        settleable: BigInt(f.settleable),
        newlyUnsettled: f.newlyUnsettled === '1',
      }
    }
    case 'missing':
    case 'finalized':
    case 'over-reservation':
      return { kind }
  }
  throw unexpected('commit', `kind ${kind}`)
}

export type ReleaseReply =
  { readonly kind: 'released'; readonly snapshot: ChannelSnapshot } | { readonly kind: 'missing' }

/** The reply of `release` (layout above the script in scripts.ts). */
export function decodeReleaseReply(channelId: Hex, reply: unknown): ReleaseReply {
  const { kind, parts } = split(reply, 'release')
  switch (kind) {
    case 'released':
      return { kind, snapshot: snapshotOf(channelId, named(parts, layouts.released, 'release')) }
    case 'missing':
      return { kind }
  }
  throw unexpected('release', `kind ${kind}`)
}
