/**
 * config/grafana-dashboard.json against what the gateway really exports: every series a panel
 * queries exists in a scrape, amounts are divided into currency units, and the exposure (the
 * same shared-ledger figure on every instance) is never summed across instances.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { createMetrics } from '../../src/http/metrics.js'

type Panel = { title: string; targets: { expr: string }[] }
const dashboard = JSON.parse(readFileSync('config/grafana-dashboard.json', 'utf8')) as {
  panels: Panel[]
  templating: { list: { name: string; query?: string }[] }
}
const expressions = dashboard.panels.flatMap((panel) => panel.targets.map((t) => t.expr))

/** Every series name a scrape can carry: samples, and each family's declared series. */
async function exported(): Promise<Set<string>> {
  const metrics = createMetrics({ exposure: async () => ({ total: 0n, channels: 0 }) })
  const names = new Set<string>()
  for (const line of (await metrics.render()).split('\n')) {
    const declared = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (declared) {
      const [, name, type] = declared as unknown as [string, string, string]
      names.add(name)
      if (type === 'histogram')
        for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix)
    } else if (line !== '' && !line.startsWith('#')) {
      names.add(/^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0])
    }
  }
  return names
}

describe('the Grafana dashboard', () => {
  it('has the payment view: revenue, 402 rate, exposure, settlement failures', () => {
    const titles = dashboard.panels.map((panel) => panel.title.toLowerCase())
    for (const wanted of ['revenue', '402', 'exposure', 'settlement failures'])
      expect(
        titles.some((title) => title.includes(wanted)),
        wanted,
      ).toBe(true)
  })

  it('queries only series the gateway exports', async () => {
    const names = await exported()
    const used = new Set(
      expressions.flatMap((expr) => expr.match(/\b(?:mppgw|process|nodejs)_[a-z0-9_]+/g) ?? []),
    )
    expect(used.size).toBeGreaterThan(10)
    for (const name of used) expect(names, name).toContain(name)
  })

  it('shows amounts in currency units and never sums the shared exposure', () => {
    const decimals = dashboard.templating.list.find((v) => v.name === 'decimals')
    expect(decimals?.query).toBe('6')
    for (const expr of expressions.filter((e) => e.includes('base_units')))
      expect(expr, expr).toContain('/ 10^$decimals')
    const exposure = expressions.filter((e) => e.includes('mppgw_unsettled_'))
    expect(exposure.length).toBeGreaterThan(0)
    for (const expr of exposure) expect(expr, expr).toMatch(/^max\(/)
  })
})
