/**
 * Which upstream answers count as "served" for an `on-success` route: the statuses after which the
 * reserved price becomes spent. Anything else releases the reservation, so the payer is not
 * charged for an upstream failure.
 *
 * Written in gateway.yaml as a status class ("2xx"), an exact status (304), or a list of them;
 * always held as a non-empty list after parsing.
 */
import { z } from 'zod'

/** The five HTTP status classes. */
export const statusClasses = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

export type StatusClass = (typeof statusClasses)[number]

/** A status class, or one exact status code. */
export type ServedStatus = StatusClass | number

const servedStatus = z.union([
  z.enum(statusClasses),
  z
    .number()
    .min(100)
    .max(599)
    .refine((status) => Number.isInteger(status))
    .meta({ type: 'integer' }),
])

/** The `servedStatuses` field: one entry or a non-empty list; always a list once parsed. */
export const servedStatusesSchema = z
  .union([servedStatus, z.array(servedStatus).min(1)], {
    error: 'must be a status class ("2xx"), a status code (304), or a list of them (["2xx", 304])',
  })
  .transform((value): ServedStatus[] => (Array.isArray(value) ? value : [value]))

/** Whether an upstream `status` counts as served under `statuses`. */
export function isServedStatus(statuses: readonly ServedStatus[], status: number): boolean {
  return statuses.some((entry) =>
    typeof entry === 'number' ? entry === status : `${Math.floor(status / 100)}xx` === entry,
  )
}
