/**
 * The `metered` block of a route: a price read from the upstream's answer.
 *
 * `price` of the route stays what the challenge states — for a metered route the most one answer
 * can cost (its maxPrice). The answer then costs `base + perUnit × units`, never more than that,
 * where the units come from exactly one declared source:
 *  - `bytes: N`       — the answer's body size, per started block of N bytes;
 *  - `jsonField: a.b` — a non-negative whole number at that dotted path of a JSON answer;
 *  - `header: name`   — a non-negative whole number in an upstream response header, which the
 *                       client never sees.
 * `bufferBytes` bounds how much of a body the gateway holds to read its price before the head
 * leaves (docs/DESIGN.md "Prices from the answer").
 */
import { z } from 'zod'
import type { UnitSource } from '../pricing/metered.js'
import { decimalAmount, integer } from './field-types.js'

const fieldSegment = /^[A-Za-z0-9_$-]+$/
const headerName = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/

/** Headers the gateway writes or strips itself; a price cannot be read from them. */
const ownHeaders = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'payment-receipt',
  'www-authenticate',
  'x-request-id',
  'cache-control',
])

const units = z
  .strictObject({
    bytes: integer({
      min: 1,
      max: 2 ** 40,
      description: 'Units are started blocks of this many body bytes (1000000: per started MB).',
    }).optional(),
    jsonField: z
      .string()
      .refine(
        (value) => value.split('.').every((segment) => fieldSegment.test(segment)),
        'must be a dotted path such as result.metadata.row_count (letters, digits, "_", "-", "$")',
      )
      .meta({
        description:
          'Units are the non-negative whole number at this dotted path of the JSON answer (array items by index).',
      })
      .optional(),
    header: z
      .string()
      .refine((value) => headerName.test(value), 'must be an HTTP header name')
      .refine(
        (value) => !ownHeaders.has(value.toLowerCase()),
        'must not be a header the gateway writes itself',
      )
      .meta({
        description:
          'Units are the non-negative whole number in this upstream response header; the client never sees the header.',
      })
      .optional(),
  })
  .superRefine((value, ctx) => {
    const given = Object.values(value).filter((v) => v !== undefined).length
    if (given !== 1) {
      ctx.addIssue({ code: 'custom', message: 'name exactly one of bytes, jsonField, header' })
    }
  })
  .meta({ description: 'Where the units of an answer come from: exactly one source.' })

export const meteredSchema = z
  .strictObject({
    base: decimalAmount('Part of every answer\'s price, in currency units ("0.001").').prefault(
      '0',
    ),
    perUnit: decimalAmount('Price of one unit in currency units ("0.0001").'),
    units,
    bufferBytes: integer({
      min: 1024,
      max: 64 * 1024 * 1024,
      description:
        'Largest answer body held to read its price before the head leaves; a larger one costs the route price (the maximum).',
    }).default(1024 * 1024),
  })
  .meta({
    description:
      'Price each answer from the answer itself: base + perUnit × units, at most the route price (the maxPrice the challenge states).',
  })

/** The source of a structurally valid `units` block. */
export function unitSourceOf(written: z.output<typeof meteredSchema>['units']): UnitSource {
  if (written.bytes !== undefined) return { kind: 'bytes', per: written.bytes }
  if (written.jsonField !== undefined) return { kind: 'json', path: written.jsonField.split('.') }
  return { kind: 'header', name: (written.header ?? '').toLowerCase() }
}
