/**
 * The soak's chart: five panels over time (memory; Redis keys by family and those without a TTL;
 * answered req/s by status class; paid p99 and event-loop p99 latency; settlements, closes, error
 * lines and unknown outcomes), one shared time axis, a dashed rule where traffic stopped.
 * A Vega-Lite spec compiled and rendered to SVG headless by `vega` (pure JavaScript: no canvas,
 * no browser, no native build).
 */
import { writeFileSync } from 'node:fs'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import type { Sample } from './report.js'
import { families } from './sample.js'

type Point = { t: number; series: string; value: number }

function panel(title: string, unit: string, values: Point[], stoppedAt: number | undefined) {
  const line = {
    data: { values },
    mark: { type: 'line' as const, point: values.length < 60 },
    encoding: {
      x: { field: 't', type: 'quantitative' as const, title: 'seconds since traffic started' },
      y: { field: 'value', type: 'quantitative' as const, title: unit },
      color: { field: 'series', type: 'nominal' as const, title: null },
    },
  }
  const layers =
    stoppedAt === undefined
      ? [line]
      : [
          line,
          {
            data: { values: [{ t: stoppedAt }] },
            mark: { type: 'rule' as const, strokeDash: [4, 4], color: 'gray' },
            encoding: { x: { field: 't', type: 'quantitative' as const } },
          },
        ]
  return {
    title,
    width: 720,
    height: 160,
    layer: layers,
    resolve: { scale: { color: 'independent' as const } },
  }
}

export async function writeChart(path: string, samples: readonly Sample[], title: string) {
  const stoppedAt = samples.find((s) => s.phase === 'idle')?.t
  const series = (pick: Record<string, (s: Sample) => number>): Point[] =>
    samples.flatMap((s) =>
      Object.entries(pick).map(([name, value]) => ({ t: s.t, series: name, value: value(s) })),
    )
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    vconcat: [
      panel(
        'Memory',
        'MB',
        series({
          'gateway RSS': (s) => s.gatewayRssMb,
          'gateway heap used': (s) => s.heapUsedMb,
          'anvil RSS': (s) => s.anvilRssMb,
          'Redis used': (s) => s.redisMb,
        }),
        stoppedAt,
      ),
      panel(
        'Redis keys by family (closed channels keep theirs with a TTL)',
        'keys',
        series({
          ...Object.fromEntries(families.map((f) => [f, (s: Sample) => s.keys[f]])),
          'all without TTL': (s) => s.persistentKeys,
        }),
        stoppedAt,
      ),
      panel(
        'Answered requests',
        'req/s',
        series({
          all: (s) => s.reqPerSec,
          '2xx': (s) => s.status2xx,
          '4xx (402 challenges)': (s) => s.status4xx,
          '5xx': (s) => s.status5xx,
        }),
        stoppedAt,
      ),
      panel(
        'Latency',
        'ms',
        series({
          'paid p99': (s) => s.paidP99Ms,
          'gateway event-loop delay p99': (s) => s.loopP99Ms,
        }),
        stoppedAt,
      ),
      panel(
        'Settlement',
        'count',
        series({
          settlements: (s) => s.settled,
          closes: (s) => s.closed,
          'error lines': (s) => s.errors,
          'unknown outcomes': (s) => s.unknownOutcomes,
        }),
        stoppedAt,
      ),
    ],
    resolve: { scale: { color: 'independent' } },
  } as unknown as TopLevelSpec
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  writeFileSync(path, await view.toSVG())
  view.finalize()
}
