/**
 * The soak's record and verdict: one row per sample (CSV), one per minute of traffic (CSV), the
 * start / middle / end / idle figures with slopes per minute over the traffic phase, and the checks
 * that fail the run: an error-level log line, a failed cooperative close, a key family that grows
 * after traffic stopped, or a persistent key of a channel that is not open.
 */
import { writeFileSync } from 'node:fs'
import type { MinuteFigures } from './load.js'
import { families, type Family } from './sample.js'

export type Sample = {
  /** Seconds since traffic started. */
  readonly t: number
  readonly phase: 'load' | 'idle'
  readonly gatewayRssMb: number
  readonly heapUsedMb: number
  readonly heapTotalMb: number
  readonly loopP99Ms: number
  readonly loopMaxMs: number
  readonly fds: number
  readonly anvilRssMb: number
  readonly redisMb: number
  readonly keys: Readonly<Record<Family, number>>
  readonly persistentKeys: number
  readonly strays: number
  readonly openChannels: number
  readonly settled: number
  readonly closed: number
  readonly errors: number
  readonly warnings: number
  readonly unknownOutcomes: number
  readonly reqPerSec: number
  readonly status2xx: number
  readonly status4xx: number
  readonly status5xx: number
  readonly paidP99Ms: number
}

const columns: readonly (keyof Sample)[] = [
  't',
  'phase',
  'gatewayRssMb',
  'heapUsedMb',
  'heapTotalMb',
  'loopP99Ms',
  'loopMaxMs',
  'fds',
  'anvilRssMb',
  'redisMb',
  'persistentKeys',
  'strays',
  'openChannels',
  'settled',
  'closed',
  'errors',
  'warnings',
  'unknownOutcomes',
  'reqPerSec',
  'status2xx',
  'status4xx',
  'status5xx',
  'paidP99Ms',
]

const round = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(2))

export function writeSamplesCsv(path: string, samples: readonly Sample[]): void {
  const header = [...columns, ...families.map((f) => `keys_${f}`)].join(',')
  const rows = samples.map((s) =>
    [
      ...columns.map((c) => {
        const value = s[c]
        return typeof value === 'number' ? round(value) : typeof value === 'string' ? value : ''
      }),
      ...families.map((f) => String(s.keys[f])),
    ].join(','),
  )
  writeFileSync(path, `${[header, ...rows].join('\n')}\n`)
}

export function writeMinutesCsv(path: string, minutes: readonly MinuteFigures[]): void {
  const statuses = [...new Set(minutes.flatMap((m) => Object.keys(m.statuses)))].sort()
  const header = [
    'minute',
    'sent',
    'skipped',
    ...statuses.map((s) => s.replace(' ', '_')),
    'paid_p50_ms',
    'paid_p99_ms',
    'free_p99_ms',
    'challenge_p99_ms',
  ]
  const rows = minutes.map((m) =>
    [
      m.minute,
      m.sent,
      m.skipped,
      ...statuses.map((s) => m.statuses[s] ?? 0),
      round(m.p50Ms.paid),
      round(m.p99Ms.paid),
      round(m.p99Ms.free),
      round(m.p99Ms.challenge),
    ].join(','),
  )
  writeFileSync(path, `${[header.join(','), ...rows].join('\n')}\n`)
}

/** Least-squares slope of `y` over `t` (seconds), per minute; 0 with fewer than two points. */
export function slopePerMinute(points: readonly { t: number; y: number }[]): number {
  if (points.length < 2) return 0
  const n = points.length
  const mt = points.reduce((a, p) => a + p.t, 0) / n
  const my = points.reduce((a, p) => a + p.y, 0) / n
  const num = points.reduce((a, p) => a + (p.t - mt) * (p.y - my), 0)
  const den = points.reduce((a, p) => a + (p.t - mt) ** 2, 0)
  return den === 0 ? 0 : (num / den) * 60
}

/** Families whose key count at the last idle sample is above the first idle sample's. */
export function growingAfterLoad(samples: readonly Sample[]): Family[] {
  const idle = samples.filter((s) => s.phase === 'idle')
  const first = idle[0]
  const last = idle.at(-1)
  if (!first || !last || first === last) return []
  return families.filter((f) => last.keys[f] > first.keys[f])
}

const summaryRows: readonly [string, (s: Sample) => number, string][] = [
  ['gateway RSS', (s) => s.gatewayRssMb, 'MB'],
  ['gateway heap used', (s) => s.heapUsedMb, 'MB'],
  ['event-loop delay p99', (s) => s.loopP99Ms, 'ms'],
  ['gateway fds', (s) => s.fds, ''],
  ['anvil RSS', (s) => s.anvilRssMb, 'MB'],
  ['Redis used memory', (s) => s.redisMb, 'MB'],
  ['Redis keys', (s) => families.reduce((a, f) => a + s.keys[f], 0), ''],
  ['  of which fence', (s) => s.keys.fence, ''],
  ['  without TTL', (s) => s.persistentKeys, ''],
  ['open channels', (s) => s.openChannels, ''],
  ['settlements (log)', (s) => s.settled, ''],
  ['closes (log)', (s) => s.closed, ''],
  ['req/s answered', (s) => s.reqPerSec, ''],
  ['paid p99', (s) => s.paidP99Ms, 'ms'],
]

/** The start / middle / end / idle table with slopes over the traffic phase. */
export function summaryLines(samples: readonly Sample[]): string[] {
  const load = samples.filter((s) => s.phase === 'load')
  const pick = [load[0], load[Math.floor(load.length / 2)], load.at(-1), samples.at(-1)]
  const lines = [
    `${'figure'.padEnd(24)}${['start', 'middle', 'end', 'idle'].map((h) => h.padStart(10)).join('')}${'slope/min'.padStart(12)}`,
  ]
  for (const [name, value, unit] of summaryRows) {
    const cells = pick.map((s) => (s ? round(value(s)) : '-').padStart(10)).join('')
    const slope = slopePerMinute(load.map((s) => ({ t: s.t, y: value(s) })))
    lines.push(
      `${`${name}${unit ? ` (${unit})` : ''}`.padEnd(24)}${cells}${round(slope).padStart(12)}`,
    )
  }
  return lines
}
