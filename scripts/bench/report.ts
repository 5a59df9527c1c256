/**
 * Turning measured windows into the two printed tables: per row the median over rounds of req/s,
 * p50, p99 and server CPU per request, the ratio to the reference row in the same run, and each
 * target with pass/fail. Nothing here decides the exit code: the bench reports, it does not gate.
 */
import { median, type WindowFigures } from './measure.js'
import type { RowSpec } from './rows.js'

/** One row's figures over all rounds. */
export type RowSummary = {
  readonly spec: RowSpec
  readonly rps: number
  readonly roundRps: readonly number[]
  readonly p50Ms: number
  readonly p99Ms: number
  readonly serverCpuMicros: number
  readonly count: number
  readonly errors: number
  /** Windows that ended on their request budget or supply instead of on time. */
  readonly cutShort: number
  readonly errorSamples: readonly string[]
}

/** A checked target. */
export type Verdict = { readonly row: string; readonly target: string; readonly pass: boolean }

/** Summarizes each row's rounds (median of every figure, sums of counts). */
export function summarize(
  rows: readonly RowSpec[],
  windows: ReadonlyMap<string, readonly WindowFigures[]>,
): RowSummary[] {
  return rows.map((spec) => {
    const rounds = windows.get(spec.id) ?? []
    return {
      spec,
      rps: median(rounds.map((w) => w.rps)),
      roundRps: rounds.map((w) => w.rps),
      p50Ms: median(rounds.map((w) => w.p50Ms)),
      p99Ms: median(rounds.map((w) => w.p99Ms)),
      serverCpuMicros: median(rounds.map((w) => w.serverCpuMicros)),
      count: rounds.reduce((sum, w) => sum + w.count, 0),
      errors: rounds.reduce((sum, w) => sum + w.errors, 0),
      cutShort: rounds.filter((w) => w.stoppedBy !== 'time').length,
      errorSamples: rounds.flatMap((w) => w.errorSamples).slice(0, 3),
    }
  })
}

const verdict = (pass: boolean) => (pass ? 'pass' : 'FAIL')
const fixed = (value: number, digits: number) => (Number.isNaN(value) ? '-' : value.toFixed(digits))

/** The main table (rows at the run's connection count) and its verdicts. */
export function throughputTable(summaries: readonly RowSummary[]): {
  lines: string[]
  verdicts: Verdict[]
} {
  const reference = summaries.find((s) => s.spec.reference)
  const verdicts: Verdict[] = []
  const body = summaries.map((s) => {
    const ratio = reference ? s.rps / reference.rps : Number.NaN
    // The same comparison in gateway CPU per request — what the targets are checked on: far
    // steadier than req/s on a shared box, and meaningless for a row measuring another process
    // than a gateway.
    const cpuRatio =
      reference && s.spec.target !== 'upstream'
        ? reference.serverCpuMicros / s.serverCpuMicros
        : Number.NaN
    let target = ''
    let result = ''
    if (s.spec.minCpuRatio !== undefined) {
      const pass = cpuRatio >= s.spec.minCpuRatio
      target = `≥ ${s.spec.minCpuRatio.toFixed(2)}`
      result = verdict(pass)
      verdicts.push({ row: s.spec.label, target: `CPU ratio ${target}`, pass })
    } else if (s.spec.reference) {
      target = 'reference'
    }
    return [
      s.spec.label,
      fixed(s.rps, 0),
      s.roundRps.map((rps) => rps.toFixed(0)).join(' / '),
      fixed(s.p50Ms, 2),
      fixed(s.p99Ms, 2),
      `${fixed(ratio, 3)}×`,
      fixed(s.serverCpuMicros, 0),
      Number.isNaN(cpuRatio) ? '' : `${fixed(cpuRatio, 3)}×`,
      target,
      result,
      notes(s),
    ]
  })
  const header = [
    'row',
    'req/s',
    'rounds req/s',
    'p50 ms',
    'p99 ms',
    'vs plain',
    'server CPU µs/req',
    'vs plain by CPU',
    'target',
    'result',
    'errors',
  ]
  return { lines: table(header, body), verdicts }
}

/** The one-connection table: latency of the paid rows against the reference, and verdicts. */
export function latencyTable(summaries: readonly RowSummary[]): {
  lines: string[]
  verdicts: Verdict[]
} {
  const reference = summaries.find((s) => s.spec.reference)
  const verdicts: Verdict[] = []
  const body = summaries.map((s) => {
    const compared = reference !== undefined && !s.spec.reference
    const added = compared ? s.p99Ms - reference.p99Ms : Number.NaN
    const addedP50 = compared ? s.p50Ms - reference.p50Ms : Number.NaN
    const limit = s.spec.oneConnection?.maxAddedP99Ms
    let target = s.spec.reference ? 'reference' : ''
    let result = ''
    if (limit !== undefined && !s.spec.reference) {
      const pass = added <= limit
      target = `≤ ${limit.toFixed(2)} ms`
      result = verdict(pass)
      verdicts.push({ row: s.spec.label, target: `added p99 at 1 connection ${target}`, pass })
    }
    return [
      s.spec.label,
      fixed(s.rps, 0),
      fixed(s.p50Ms, 3),
      fixed(s.p99Ms, 3),
      compared ? fixed(addedP50, 3) : '',
      compared ? fixed(added, 3) : '',
      target,
      result,
      fixed(s.serverCpuMicros, 0),
      notes(s),
    ]
  })
  const header = [
    'row',
    'req/s',
    'p50 ms',
    'p99 ms',
    'added p50 ms',
    'added p99 ms',
    'target',
    'result',
    'server CPU µs/req',
    'errors',
  ]
  return { lines: table(header, body), verdicts }
}

/** Error samples of rows that had any, for the lines under a table. */
export function errorDetails(summaries: readonly RowSummary[]): string[] {
  return summaries.flatMap((s) =>
    s.errorSamples.map((sample) => `  ${s.spec.id}: ${sample.replace(/\s+/g, ' ')}`),
  )
}

function notes(s: RowSummary): string {
  const parts = [String(s.errors)]
  if (s.cutShort > 0) parts.push(`(${s.cutShort} window(s) hit the request budget)`)
  return parts.join(' ')
}

/** A Markdown table: first column left-aligned, the others right-aligned. */
function table(header: readonly string[], body: readonly (readonly string[])[]): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...body.map((cells) => (cells[column] ?? '').length)),
  )
  const line = (cells: readonly string[]) =>
    `| ${widths
      .map((width, column) => {
        const cell = cells[column] ?? ''
        return column === 0 ? cell.padEnd(width) : cell.padStart(width)
      })
      .join(' | ')} |`
  const rule = `|${widths.map((width, column) => (column === 0 ? `:${'-'.repeat(width + 1)}` : `${'-'.repeat(width + 1)}:`)).join('|')}|`
  return [line(header), rule, ...body.map(line)]
}
