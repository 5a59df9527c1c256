/**
 * Reloading the configuration file into a running gateway: on SIGHUP (main.ts) and, opt-in
 * (`--watch-config`), when the file changes.
 *
 * A reload reads and validates the file with the same loader as the start (every problem with
 * its YAML path and line). An invalid file changes nothing: the running configuration keeps
 * serving, every problem is logged, and `mppgw_config_reloads_total{result="invalid"}` counts it.
 * A valid one becomes the next generation (generations.ts) at once; restart-only settings it
 * changed are listed in one warning and keep their running values. A reload never stops the
 * process: every failure is a log line.
 */
import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import type { Logger } from 'pino'
import { ConfigError } from './config/errors.js'
import type { Env } from './config/env-expand.js'
import { loadConfig } from './config/load.js'
import type { Applied, Generations } from './generations.js'
import type { Metrics } from './http/metrics.js'

export type Reloader = {
  /** Reads, validates and applies the file; `undefined` when it was refused. Never throws. */
  reload(trigger: string): Applied | undefined
}

export function createReloader(options: {
  path: string
  env: Env
  generations: Pick<Generations, 'apply'>
  metrics: Pick<Metrics, 'reload'>
  logger: Logger
}): Reloader {
  const logger = options.logger.child({ component: 'reload' })
  return {
    reload(trigger) {
      let applied: Applied
      try {
        const config = loadConfig({ path: options.path, env: options.env })
        applied = options.generations.apply(config)
      } catch (error) {
        options.metrics.reload('invalid')
        if (error instanceof ConfigError) {
          // One line per problem, each with its YAML path (messages never repeat a secret).
          for (const issue of error.issues) {
            logger.error(
              { trigger, file: error.source, path: issue.path, line: issue.line },
              `configuration not reloaded: ${issue.path === '' ? '(document)' : issue.path}: ${issue.message}`,
            )
          }
          logger.error(
            { trigger, problems: error.issues.length },
            'configuration not reloaded; the running configuration keeps serving',
          )
        } else {
          logger.error(
            { trigger, err: error },
            'configuration not reloaded; the running configuration keeps serving',
          )
        }
        return undefined
      }
      options.metrics.reload('applied', applied.generation)
      logger.info({ trigger, generation: applied.generation }, 'configuration reloaded')
      if (applied.restartOnly.length > 0) {
        logger.warn(
          { trigger, settings: applied.restartOnly },
          'settings changed that apply only on restart; they keep their running values',
        )
      }
      return applied
    },
  }
}

/**
 * Calls `onChange` once the file has been quiet for `debounceMs` after a change. Watches the
 * directory, not the file: editors and config-management tools replace a file by renaming a new
 * one over it, which a watch on the old file would never see.
 */
export function watchConfigFile(options: {
  path: string
  debounceMs: number
  onChange: () => void
  logger: Logger
}): { close(): void } {
  const name = basename(options.path)
  let timer: NodeJS.Timeout | undefined
  let watcher: FSWatcher
  try {
    watcher = watch(dirname(options.path), (_event, file) => {
      if (file !== null && file !== name) return
      clearTimeout(timer)
      timer = setTimeout(options.onChange, options.debounceMs)
    })
  } catch (error) {
    options.logger.error({ err: error }, 'cannot watch the configuration file; reload with SIGHUP')
    return { close() {} }
  }
  watcher.on('error', (error) => {
    options.logger.error(
      { err: error },
      'watching the configuration file failed; reload with SIGHUP',
    )
  })
  return {
    close() {
      clearTimeout(timer)
      watcher.close()
    },
  }
}
