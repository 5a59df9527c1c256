/**
 * The ledger's transitions as pure functions: (entry, input) → (entry', result).
 *
 * This module is the specification every adapter implements: the memory adapter applies these
 * functions synchronously under a per-process event loop; the Redis adapter runs Lua scripts that
 * make the same decisions inside Redis. The shared contract suite holds both to it. Nothing here
 * performs I/O or reads the clock: `now` is an input.
 */
import type {
  AuthorizeInput,
  AuthorizeResult,
  ChainState,
  ChannelRecord,
  CommitResult,
  ConfirmResult,
  NewChannel,
  ReleaseResult,
  SignedVoucher,
  TransitionResult,
} from './port.js'
import { settleableOf, snapshotOf } from './port.js'

/**
 * Value tied to one in-flight paid request until `expiresAt`:
 *  - `reserve`: held against the voucher (in `reserved`), charged only by a `commit`;
 *  - `hold`: already charged (in `spent`, and in `held` while refundable), refunded by a
 *    `release`; when it lapses the charge is final;
 *  - `void`: a release that found nothing (the authorize it names may still run, e.g. queued in a
 *    frozen Redis): that authorize then charges and reserves nothing. Amount 0.
 */
export type Reservation = {
  readonly amount: bigint
  readonly expiresAt: number
  readonly kind: 'reserve' | 'hold' | 'void'
}

/** What the ledger stores for one channel. */
export type LedgerEntry = {
  readonly record: ChannelRecord
  readonly reservations: ReadonlyMap<string, Reservation>
  /**
   * Accepted vouchers above `spent`, ascending, at most `maxPendingVouchers`. When `spent`
   * catches up with one of them it becomes the settle voucher: that is how the ledger keeps a
   * voucher whose cumulative amount equals (or is just below) what was actually served.
   */
  readonly pending: readonly SignedVoucher[]
}

/** Bound on retained vouchers above `spent`; older ones are dropped (settling then lags). */
export const maxPendingVouchers = 8

const noVoucher: SignedVoucher = { cumulative: 0n, signature: '0x' }

export function createEntry(channel: NewChannel, now: number): LedgerEntry {
  return {
    record: {
      ...channel,
      closeRequestedAt: 0,
      status: 'open',
      accepted: noVoucher,
      settleVoucher: undefined,
      spent: 0n,
      units: 0,
      reserved: 0n,
      held: 0n,
      closeTxHash: undefined,
      updatedAt: now,
    },
    reservations: new Map(),
    pending: [],
  }
}

/**
 * Drops reservations whose time is up: a reservation's value stops counting against the voucher,
 * a hold's charge becomes final (and settleable).
 */
export function purgeExpired(entry: LedgerEntry, now: number): LedgerEntry {
  let reservedOut = 0n
  let heldOut = 0n
  let any = false
  for (const r of entry.reservations.values()) {
    if (r.expiresAt > now) continue
    any = true
    if (r.kind === 'reserve') reservedOut += r.amount
    else if (r.kind === 'hold') heldOut += r.amount
  }
  if (!any) return entry
  const reservations = new Map([...entry.reservations].filter(([, r]) => r.expiresAt > now))
  const next = {
    ...entry,
    reservations,
    record: {
      ...entry.record,
      reserved: entry.record.reserved - reservedOut,
      held: entry.record.held - heldOut,
      updatedAt: now,
    },
  }
  return heldOut > 0n ? promoteSettleVoucher(next) : next
}

/**
 * Moves the settle voucher up to the highest retained voucher not above the final part of
 * `spent` (`spent − held`: a refundable charge is not settled until it is final).
 */
function promoteSettleVoucher(entry: LedgerEntry): LedgerEntry {
  const bound = entry.record.spent - entry.record.held
  let best = entry.record.settleVoucher
  const pending: SignedVoucher[] = []
  for (const v of entry.pending) {
    if (v.cumulative <= bound) {
      if (!best || v.cumulative > best.cumulative) best = v
    } else {
      pending.push(v)
    }
  }
  if (best === entry.record.settleVoucher && pending.length === entry.pending.length) return entry
  return { ...entry, pending, record: { ...entry.record, settleVoucher: best } }
}

export function authorize(
  entry: LedgerEntry | undefined,
  input: AuthorizeInput,
): { entry: LedgerEntry | undefined; result: AuthorizeResult } {
  if (!entry) return { entry, result: { kind: 'not-found' } }
  if (entry.record.status === 'finalized') return { entry, result: { kind: 'finalized' } }
  if (entry.record.status === 'closing' || entry.record.closeRequestedAt !== 0) {
    return { entry, result: { kind: 'closing' } }
  }
  let next = purgeExpired(entry, input.now)
  let voucherOutcome: 'new' | 'same' | 'lower' | 'none' = 'none'

  if (input.voucher) {
    const v = input.voucher
    const highest = next.record.accepted.cumulative
    const reject = (reason: 'not-increasing' | 'exceeds-deposit' | 'delta-too-small') => ({
      entry: next,
      result: { kind: 'voucher-rejected' as const, reason, snapshot: snapshotOf(next.record) },
    })
    if (v.cumulative > next.record.deposit) return reject('exceeds-deposit')
    if (highest === 0n && v.cumulative === 0n) return reject('not-increasing')
    if (v.cumulative < highest) {
      // A lower voucher buys nothing new: the request is paid from the headroom the ledger already
      // holds (`accepted − spent − reserved`), exactly as a re-sent highest voucher would be.
      // Clients roll their cumulative back after an answer they did not get (docs/DESIGN.md).
      voucherOutcome = 'lower'
    } else if (v.cumulative === highest) {
      voucherOutcome = 'same'
    } else {
      if (v.cumulative - highest < input.minDelta) return reject('delta-too-small')
      const pending = [...next.pending, v].slice(-maxPendingVouchers)
      next = { ...next, pending, record: { ...next.record, accepted: v } }
      voucherOutcome = 'new'
    }
  }

  const { accepted, spent, reserved } = next.record
  const available = accepted.cumulative - spent - reserved
  if (input.amount > available) {
    // Only the charge is refused: a new voucher is a valid, signed claim and stays accepted, so
    // the payer's next voucher is checked against it.
    return {
      entry: next,
      result: { kind: 'insufficient', available, snapshot: snapshotOf(next.record) },
    }
  }

  const voided =
    input.reservationId !== undefined && next.reservations.get(input.reservationId)?.kind === 'void'
  if (voided) {
    // Its request was already answered without a charge (the release came first): the voucher
    // stays accepted, nothing is charged or held.
  } else if ((input.mode === 'reserve' || input.mode === 'hold') && input.amount > 0n) {
    if (input.reservationId === undefined || input.expiresAt === undefined) {
      throw new Error('ledger: a reservation needs an id and an expiry')
    }
    const reservations = new Map(next.reservations)
    reservations.set(input.reservationId, {
      amount: input.amount,
      expiresAt: input.expiresAt,
      kind: input.mode,
    })
    next = {
      ...next,
      reservations,
      record:
        input.mode === 'reserve'
          ? { ...next.record, reserved: reserved + input.amount }
          : {
              ...next.record,
              spent: spent + input.amount,
              units: next.record.units + 1,
              held: next.record.held + input.amount,
            },
    }
  } else if (input.mode === 'commit' && input.amount > 0n) {
    next = promoteSettleVoucher({
      ...next,
      record: { ...next.record, spent: spent + input.amount, units: next.record.units + 1 },
    })
  }
  next = { ...next, record: { ...next.record, updatedAt: input.now } }
  return {
    entry: next,
    result: {
      kind: 'authorized',
      voucher: voucherOutcome,
      snapshot: snapshotOf(next.record),
      settleable: settleableOf(next.record),
    },
  }
}

/**
 * Turns a reservation into spent value: all of it, or `amount` of it (a price known only from
 * the response, never above what was reserved) with the rest released in the same step.
 */
export function commit(
  entry: LedgerEntry | undefined,
  reservationId: string,
  now: number,
  amount?: bigint,
): { entry: LedgerEntry | undefined; result: CommitResult } {
  if (!entry) return { entry, result: { kind: 'missing' } }
  if (entry.record.status === 'finalized') return { entry, result: { kind: 'finalized' } }
  const reservation = entry.reservations.get(reservationId)
  if (!reservation || reservation.kind !== 'reserve' || reservation.expiresAt <= now) {
    return { entry: purgeExpired(entry, now), result: { kind: 'missing' } }
  }
  const charged = amount ?? reservation.amount
  if (charged < 0n || charged > reservation.amount) {
    // The payer agreed to the reserved maximum and no more: a larger commit is a defect.
    throw new Error('ledger: a commit must lie between zero and its reservation')
  }
  const reservations = new Map(entry.reservations)
  reservations.delete(reservationId)
  const next = purgeExpired(
    promoteSettleVoucher({
      ...entry,
      reservations,
      record: {
        ...entry.record,
        spent: entry.record.spent + charged,
        units: entry.record.units + 1,
        reserved: entry.record.reserved - reservation.amount,
        updatedAt: now,
      },
    }),
    now,
  )
  return {
    entry: next,
    result: {
      kind: 'committed',
      snapshot: snapshotOf(next.record),
      settleable: settleableOf(next.record),
    },
  }
}

/**
 * Gives a request's value back: a reservation stops counting against the voucher, a hold's charge
 * is refunded. When nothing is found and `voidUntil` is given, the id is voided until then, so
 * that an authorize naming it that runs later (still queued when its caller gave up) charges
 * nothing.
 */
export function release(
  entry: LedgerEntry | undefined,
  reservationId: string,
  now: number,
  voidUntil?: number,
): { entry: LedgerEntry | undefined; result: ReleaseResult } {
  if (!entry) return { entry, result: { kind: 'missing' } }
  const reservation = entry.reservations.get(reservationId)
  if (
    !reservation ||
    reservation.kind === 'void' ||
    (reservation.kind === 'hold' && reservation.expiresAt <= now)
  ) {
    if (voidUntil === undefined || reservation) {
      return { entry: purgeExpired(entry, now), result: { kind: 'missing' } }
    }
    const reservations = new Map(entry.reservations)
    reservations.set(reservationId, { amount: 0n, expiresAt: voidUntil, kind: 'void' })
    return { entry: purgeExpired({ ...entry, reservations }, now), result: { kind: 'missing' } }
  }
  const reservations = new Map(entry.reservations)
  reservations.delete(reservationId)
  const { record } = entry
  const next = purgeExpired(
    {
      ...entry,
      reservations,
      record:
        reservation.kind === 'hold'
          ? {
              ...record,
              spent: record.spent - reservation.amount,
              units: record.units - 1,
              held: record.held - reservation.amount,
              updatedAt: now,
            }
          : { ...record, reserved: record.reserved - reservation.amount, updatedAt: now },
    },
    now,
  )
  return { entry: next, result: { kind: 'released', snapshot: snapshotOf(next.record) } }
}

/**
 * Makes holds final before they lapse — their answers were served — so that their value is
 * settleable at once. Ids that are not live holds are skipped: confirming is idempotent.
 */
export function confirmHolds(
  entry: LedgerEntry | undefined,
  reservationIds: readonly string[],
  now: number,
): { entry: LedgerEntry | undefined; result: ConfirmResult } {
  if (!entry) return { entry, result: { kind: 'missing' } }
  let confirmed = 0
  let amount = 0n
  const reservations = new Map(entry.reservations)
  for (const id of reservationIds) {
    const hold = reservations.get(id)
    if (hold?.kind !== 'hold' || hold.expiresAt <= now) continue
    reservations.delete(id)
    confirmed += 1
    amount += hold.amount
  }
  if (confirmed === 0) {
    return {
      entry,
      result: { kind: 'confirmed', confirmed, settleable: settleableOf(entry.record) },
    }
  }
  const next = purgeExpired(
    promoteSettleVoucher({
      ...entry,
      reservations,
      record: { ...entry.record, held: entry.record.held - amount, updatedAt: now },
    }),
    now,
  )
  return {
    entry: next,
    result: { kind: 'confirmed', confirmed, settleable: settleableOf(next.record) },
  }
}

function update(
  entry: LedgerEntry | undefined,
  change: (record: ChannelRecord) => ChannelRecord,
  options: { allowFinalized?: boolean } = {},
): { entry: LedgerEntry | undefined; result: TransitionResult } {
  if (!entry) return { entry, result: { kind: 'not-found' } }
  if (entry.record.status === 'finalized' && !options.allowFinalized) {
    return { entry, result: { kind: 'finalized' } }
  }
  const next = { ...entry, record: change(entry.record) }
  return { entry: next, result: { kind: 'ok', channel: next.record } }
}

const max = (a: bigint, b: bigint) => (a > b ? a : b)

export function recordTopUp(entry: LedgerEntry | undefined, deposit: bigint, now: number) {
  return update(entry, (r) => ({
    ...r,
    deposit: max(r.deposit, deposit),
    closeRequestedAt: 0,
    updatedAt: now,
  }))
}

export function syncChain(entry: LedgerEntry | undefined, state: ChainState, now: number) {
  return update(entry, (r) =>
    state.deposit === 0n
      ? // The channel is gone from chain: closed or withdrawn. Keep the last known figures.
        { ...r, status: 'finalized', updatedAt: now }
      : {
          ...r,
          deposit: max(r.deposit, state.deposit),
          settled: max(r.settled, state.settled),
          closeRequestedAt: state.closeRequestedAt,
          updatedAt: now,
        },
  )
}

export function markClosing(entry: LedgerEntry | undefined, now: number) {
  return update(entry, (r) => ({ ...r, status: 'closing', updatedAt: now }))
}

export function cancelClosing(entry: LedgerEntry | undefined, now: number) {
  return update(entry, (r) =>
    r.status === 'closing' ? { ...r, status: 'open', updatedAt: now } : r,
  )
}

export function finalize(
  entry: LedgerEntry | undefined,
  outcome: { settled: bigint; txHash: `0x${string}` | undefined },
  now: number,
) {
  return update(
    entry,
    (r) => ({
      ...r,
      status: 'finalized',
      settled: max(r.settled, outcome.settled),
      closeTxHash: outcome.txHash ?? r.closeTxHash,
      updatedAt: now,
    }),
    { allowFinalized: true },
  )
}
