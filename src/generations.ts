/**
 * The current configuration generation (generation.ts) and the ones a reload replaced.
 *
 * - `enter()` is called once per request: it returns the current generation and holds it until
 *   the request is done, so a reload never changes the configuration under a request.
 * - `apply(config)` builds the next generation from an already validated configuration (keeping
 *   every restart-only setting as the process started, config/live-settings.ts) and makes it
 *   current in one assignment. It either fully happens or throws before anything changed.
 * - A replaced generation is kept while requests still hold it; then the upstream pools no live
 *   generation uses are closed (gracefully: undici lets in-flight requests finish). Its
 *   challenges stay payable at their own price until they expire (gate/quotes.ts).
 */
import type { Logger } from 'pino'
import { liveConfig, restartOnlyChanges } from './config/live-settings.js'
import type { Config } from './config/schema.js'
import { createQuoteBook, type EarlierTerms } from './gate/quotes.js'
import { buildGeneration, type Generation, type GenerationDeps } from './generation.js'
import type { Upstream } from './upstream/pool.js'

export type Applied = {
  readonly generation: number
  /** YAML paths of restart-only settings the file changed; not applied (live-settings.ts). */
  readonly restartOnly: readonly string[]
}

export type Generations = {
  current(): Generation
  /** The current generation, held until `release()` is called (exactly once per request). */
  enter(): { readonly generation: Generation; release(): void }
  apply(config: Config): Applied
  /** Closes the upstream pools of every generation. */
  close(): Promise<void>
}

type Retired = { readonly generation: Generation; inflight: number }

export function createGenerations(options: {
  config: Config
  deps: GenerationDeps
  logger: Logger
}): Generations {
  const { deps } = options
  const started = options.config
  let current = buildGeneration({ number: 1, config: started, deps })
  let currentInflight = 0
  const retired: Retired[] = []
  let earlier: EarlierTerms[] = []

  /** Closes the pools of drained retired generations that no live generation uses. */
  const sweep = () => {
    const drained = retired.filter((r) => r.inflight === 0)
    if (drained.length === 0) return
    for (const r of drained) retired.splice(retired.indexOf(r), 1)
    const inUse = new Set<Upstream>(current.upstreams.list())
    for (const r of retired) for (const u of r.generation.upstreams.list()) inUse.add(u)
    for (const r of drained) {
      for (const upstream of r.generation.upstreams.list()) {
        if (inUse.has(upstream)) continue
        inUse.add(upstream)
        upstream.pool.close().catch((error: unknown) => {
          options.logger.warn({ err: error, upstream: upstream.spec.name }, 'closing a pool failed')
        })
      }
    }
  }

  return {
    current: () => current,
    enter() {
      const generation = current
      currentInflight += 1
      let released = false
      return {
        generation,
        release() {
          if (released) return
          released = true
          const held = retired.find((r) => r.generation === generation)
          if (held) {
            held.inflight -= 1
            sweep()
          } else {
            currentInflight -= 1
          }
        },
      }
    },
    apply(config) {
      const restartOnly = restartOnlyChanges(started, config)
      const now = deps.now()
      const stillPayable = [
        ...earlier.filter((terms) => terms.until > now),
        {
          routes: current.routes,
          challenges: current.challenges,
          until: now + current.config.server.challengeTtlSeconds * 1000,
        },
      ]
      const next = buildGeneration({
        number: current.number + 1,
        config: liveConfig(started, config),
        deps,
        previous: current,
        quotes: createQuoteBook(stillPayable),
      })
      earlier = stillPayable
      retired.push({ generation: current, inflight: currentInflight })
      current = next
      currentInflight = 0
      sweep()
      return { generation: next.number, restartOnly }
    },
    async close() {
      const pools = new Set<Upstream>(current.upstreams.list())
      for (const r of retired) for (const u of r.generation.upstreams.list()) pools.add(u)
      await Promise.all([...pools].map((u) => u.pool.close()))
    },
  }
}
