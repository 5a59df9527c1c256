/**
 * Measuring rows: for each round, every row in order gets a warm-up window then a timed window
 * (rows interleaved, so drift — thermal, GC, JIT, neighbours on the box — spreads over all rows).
 *
 * Request budgets: before each window the row's traffic prepares (signs) requests for it, and the
 * window is bounded by what is ready, so it can neither run out of vouchers nor run away; traffic
 * with an unlimited supply is bounded by {@link maxRequestsPerWindow}. The number asked for
 * follows the best rate known for the row — its own earlier windows, the reference row's (a paid
 * row does strictly more work than the plain proxy), the warm-up just run — with slack. A window
 * that still ends on its budget rather than on time says so (`stoppedBy`).
 */
import type { Child } from './children.js'
import { openPool, quantile, runWindow, type WindowResult } from './load.js'
import type { RowSpec } from './rows.js'
import type { Traffic } from './traffic.js'

/** A row ready to measure: its spec, its traffic, and the server child it talks to. */
export type PreparedRow = {
  readonly spec: RowSpec
  readonly server: Child
  readonly traffic: Traffic
}

/** The figures of one timed window. */
export type WindowFigures = {
  readonly rps: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly count: number
  readonly errors: number
  readonly stoppedBy: WindowResult['stoppedBy']
  /** CPU time of the measured server process per answered request, in microseconds. */
  readonly serverCpuMicros: number
  readonly errorSamples: readonly string[]
}

export type MeasureOptions = {
  readonly rows: readonly PreparedRow[]
  readonly workers: number
  readonly durationMs: number
  readonly warmupMs: number
  readonly rounds: number
  /** Called after every timed window (progress output). */
  readonly onWindow?: (row: RowSpec, round: number, figures: WindowFigures) => void
}

/** Hard bound on the requests of any window. */
export const maxRequestsPerWindow = 1_000_000
/** The guess before anything was measured: more than this box has ever done per window. */
const firstGuessRps = 20_000
const budgetSlack = 1.3

/** Runs all rounds; returns each row's timed windows, by row id, in round order. */
export async function measure(options: MeasureOptions): Promise<Map<string, WindowFigures[]>> {
  const results = new Map<string, WindowFigures[]>(options.rows.map((row) => [row.spec.id, []]))
  const best = new Map<string, number>()
  const reference = options.rows.find((row) => row.spec.reference)?.spec.id
  for (let round = 0; round < options.rounds; round++) {
    for (const row of options.rows) {
      const known = Math.max(
        best.get(row.spec.id) ?? 0,
        reference === undefined ? 0 : (best.get(reference) ?? 0),
      )
      const figures = await measureRow({ row, options, knownRps: known || firstGuessRps })
      results.get(row.spec.id)?.push(figures)
      best.set(row.spec.id, Math.max(best.get(row.spec.id) ?? 0, figures.rps))
      options.onWindow?.(row.spec, round, figures)
    }
  }
  return results
}

async function measureRow(input: {
  row: PreparedRow
  options: MeasureOptions
  knownRps: number
}): Promise<WindowFigures> {
  const { row, options } = input
  const budget = (rps: number, ms: number) => Math.ceil((rps * budgetSlack * ms) / 1000) + 64
  const ready = async (requests: number) =>
    Math.min(
      maxRequestsPerWindow,
      await row.traffic.prepare({ workers: options.workers, requests }),
    )
  const pool = openPool(row.server.url, options.workers)
  try {
    const window = {
      pool,
      workers: options.workers,
      next: (worker: number) => row.traffic.next(worker),
      expectStatus: row.spec.expectStatus,
    }
    const warmup = await runWindow({
      ...window,
      durationMs: options.warmupMs,
      maxRequests: await ready(budget(input.knownRps, options.warmupMs)),
    })
    const warmupRps = warmup.count / (warmup.elapsedMs / 1000)
    const maxRequests = await ready(budget(Math.max(warmupRps, input.knownRps), options.durationMs))

    const cpuBefore = await row.server.cpuMicros()
    const result = await runWindow({ ...window, durationMs: options.durationMs, maxRequests })
    const cpuAfter = await row.server.cpuMicros()
    return {
      rps: result.count / (result.elapsedMs / 1000),
      p50Ms: quantile(result.latenciesMs, 0.5),
      p99Ms: quantile(result.latenciesMs, 0.99),
      count: result.count,
      errors: result.errors,
      stoppedBy: result.stoppedBy,
      serverCpuMicros: result.count > 0 ? (cpuAfter - cpuBefore) / result.count : Number.NaN,
      errorSamples: result.errorSamples,
    }
  } finally {
    await pool.close()
  }
}

/** Median of numbers (the mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2
}
