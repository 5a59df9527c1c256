#!/usr/bin/env node
/**
 * The `mpp-gateway` command.
 *
 *   mpp-gateway --config gateway.yaml          run the gateway
 *   mpp-gateway check --config gateway.yaml    validate a configuration and print a summary
 *   mpp-gateway settle --config gateway.yaml   run only the settler and the close watcher
 *   mpp-gateway channels --config gateway.yaml channels with unsettled value (Redis ledger)
 *   mpp-gateway admin <command> …              the admin API of a running gateway (admin/cli.ts)
 *   mpp-gateway --help | --version
 *
 * `--config` defaults to `$MPP_GATEWAY_CONFIG`, else ./gateway.yaml (the container image sets the
 * variable). A mistyped option is answered with the usage text and exit code 2.
 *
 * This file, the config loader and the health check (healthcheck.ts) are the only readers of
 * `process.env`. SIGTERM and SIGINT stop the gateway gracefully (readiness off, drain, close pools
 * and ledger) and exit 0. SIGHUP reloads the configuration file (src/reload.ts): routes, prices,
 * upstreams and limits change for the next request; an invalid file is logged and the running
 * configuration kept. The process never exits on SIGHUP (its default action would kill it, losing
 * a memory ledger): before the gateway is up, and under `settle`, it is logged and ignored.
 * `--watch-config` also reloads when the file changes.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import type { Redis } from 'ioredis'
import { formatUnits } from 'viem'
import { adminCommand, adminUsage, runAdminCommand } from './admin/cli.js'
import { adminEndpoint } from './config/admin-endpoint.js'
import { checkConfig } from './config/check.js'
import { ConfigError } from './config/errors.js'
import { loadConfig } from './config/load.js'
import type { Config } from './config/schema.js'
import { openStorage, startGateway, startSettlementOnly } from './gateway.js'
import { createRedisClient } from './ledger/redis/connection.js'
import { migrateLegacyKeys } from './ledger/redis/migrate.js'
import { unsettledChannels } from './settlement/exposure.js'
import { createLogger } from './logger.js'
import { createReloader, watchConfigFile, type Reloader } from './reload.js'

const usage = `mpp-gateway — charge machine clients per request with MPP Tempo sessions

Usage:
  mpp-gateway --config <file>          run the gateway
  mpp-gateway check --config <file>    validate a configuration without starting
  mpp-gateway settle --config <file>   run only the settler and close watcher (no HTTP)
  mpp-gateway channels --config <file> print channels with spent value not yet settled on chain,
                                       largest first, one JSON line each (Redis ledger only)
  mpp-gateway migrate-keys --config <file>
                                       move a Redis ledger of the earlier key layout to the
                                       current one (every gateway and settler stopped)
  mpp-gateway admin <command> …        ask a running gateway's admin API (channels, channel,
                                       settle, block, unblock, payer, blocked); \`admin --help\`
  mpp-gateway --help                   show this help
  mpp-gateway --version                print the version

Options:
  -c, --config <file>   gateway.yaml to use (default: $MPP_GATEWAY_CONFIG, else ./gateway.yaml)
      --log-level <l>   pino level: fatal, error, warn, info, debug (default: info)
      --limit <n>       channels: how many channels to read at most (default: 1000)
      --admin-url <u>   admin: the admin API's address (default: admin.host and admin.port)
      --all             admin settle: every channel with unsettled value
      --unsettled       admin channels: only channels with unsettled value
      --reason <text>   admin block: a note stored with the block
      --watch-config    reload the configuration when the file changes (as SIGHUP does)

Secrets in the configuration are read from the environment with \${NAME} references.`

function parseArguments(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: {
        type: 'string',
        short: 'c',
        default: process.env.MPP_GATEWAY_CONFIG ?? 'gateway.yaml',
      },
      'log-level': { type: 'string', default: 'info' },
      limit: { type: 'string', default: '1000' },
      'admin-url': { type: 'string' },
      all: { type: 'boolean', default: false },
      unsettled: { type: 'boolean', default: false },
      reason: { type: 'string' },
      'watch-config': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', short: 'v', default: false },
    },
  })
}

/** What was wrong with the command line, in the words of this command (not Node's). */
function argumentProblem(error: unknown): string | undefined {
  if (!(error instanceof Error) || !('code' in error)) return undefined
  const option = /'(-[^']*)'/.exec(error.message)?.[1] ?? 'an option'
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option}`
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return `option ${/--[\w-]+/.exec(option)?.[0] ?? option} needs a value`
    default:
      return undefined
  }
}

/** The version in package.json (next to dist/ in a build and in the image, next to src/ here). */
function version(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8')
  return (JSON.parse(text) as { version: string }).version
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArguments>
  try {
    parsed = parseArguments(argv)
  } catch (error) {
    const problem = argumentProblem(error)
    if (problem === undefined) throw error
    console.error(`mpp-gateway: ${problem}\n\n${usage}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    console.log(positionals[0] === 'admin' ? adminUsage : usage)
    return 0
  }
  if (values.version) {
    console.log(`mpp-gateway ${version()}`)
    return 0
  }
  const command = positionals[0] ?? 'run'
  const env = process.env

  if (command === 'check') {
    const result = checkConfig(values.config, env)
    if (result.ok) {
      console.log(result.summary)
      return 0
    }
    console.error(result.report)
    return 1
  }
  if (command === 'admin') return admin(positionals.slice(1), values, env)
  if (
    command !== 'run' &&
    command !== 'settle' &&
    command !== 'channels' &&
    command !== 'migrate-keys'
  ) {
    console.error(`unknown command: ${command}\n\n${usage}`)
    return 2
  }

  let config
  try {
    config = loadConfig({ path: values.config, env })
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message)
      return 1
    }
    throw error
  }
  if (command === 'channels') return printUnsettledChannels(config, values.limit)
  if (command === 'migrate-keys') return migrateKeys(config)

  const destination = pino.destination(1)
  const logger = createLogger({ level: values['log-level'], destination })
  const accessLogger = createLogger({ level: values['log-level'], destination, redact: false })
  let reloader: Reloader | undefined
  process.on('SIGHUP', () => {
    if (reloader) {
      reloader.reload('SIGHUP')
      return
    }
    logger.warn(
      { signal: 'SIGHUP' },
      command === 'settle'
        ? 'SIGHUP ignored: the settler reads its configuration at start; restart it with SIGTERM'
        : 'SIGHUP ignored: the gateway is not serving yet',
    )
  })
  const gateway =
    command === 'settle'
      ? await startSettlementOnly({ config, logger })
      : await startGateway({ config, logger, accessLogger })
  let watcher: { close(): void } | undefined
  if ('deps' in gateway) {
    const live = createReloader({
      path: values.config,
      env,
      generations: gateway.deps.generations,
      metrics: gateway.deps.metrics,
      logger,
    })
    reloader = live
    if (values['watch-config']) {
      watcher = watchConfigFile({
        path: values.config,
        debounceMs: 300,
        onChange: () => live.reload('file-change'),
        logger,
      })
    }
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping')
      watcher?.close()
      gateway.stop().then(resolve, (err: unknown) => {
        logger.error({ err }, 'shutdown failed')
        resolve()
      })
    }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  })
  return 0
}

/** `mpp-gateway admin …`: one request to a running gateway's admin API. */
async function admin(
  positionals: string[],
  values: ReturnType<typeof parseArguments>['values'],
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const command = adminCommand(positionals, {
    all: values.all,
    unsettled: values.unsettled,
    limit: values.limit,
    reason: values.reason,
  })
  if ('problem' in command) {
    console.error(`mpp-gateway: ${command.problem}\n\n${adminUsage}`)
    return 2
  }
  let text: string
  try {
    text = readFileSync(values.config, 'utf8')
  } catch {
    console.error(`mpp-gateway admin: cannot read ${values.config}`)
    return 3
  }
  const found = adminEndpoint(text, env)
  if (!found.ok) {
    console.error(`mpp-gateway admin: ${values.config}: ${found.problem}`)
    return 3
  }
  const url = values['admin-url'] ?? found.endpoint.url
  return runAdminCommand({ ...found.endpoint, url }, command, {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
  })
}

/** `mpp-gateway migrate-keys`: one JSON line with what was moved; exit 1 when a name was taken. */
async function migrateKeys(config: Config): Promise<number> {
  const { ledger } = config
  if (ledger.type !== 'redis') {
    console.error('migrate-keys moves keys of a Redis ledger; ledger.type is memory')
    return 2
  }
  const { url, sentinel, keyPrefix } = ledger.redis
  if (url === undefined && sentinel === undefined) {
    console.error(
      'migrate-keys: the earlier key layout never ran on a Redis Cluster; nothing to move',
    )
    return 2
  }
  const client = createRedisClient(
    sentinel ? { sentinel, commandTimeoutMs: 30_000 } : { url: url!, commandTimeoutMs: 30_000 },
  ) as Redis
  try {
    await client.connect()
    const report = await migrateLegacyKeys(client, keyPrefix)
    console.log(JSON.stringify(report))
    if (report.conflicts.length > 0) {
      console.error(
        `${report.conflicts.length} key(s) not moved: their current name is already taken (listed in "conflicts")`,
      )
      return 1
    }
    return 0
  } catch (error) {
    console.error(`migrate-keys: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  } finally {
    client.disconnect()
  }
}

/** `mpp-gateway channels`: JSON lines on stdout, a one-line total on stderr. */
async function printUnsettledChannels(config: Config, limitText: string): Promise<number> {
  const limit = Number(limitText)
  if (!Number.isInteger(limit) || limit < 1) {
    console.error('--limit must be a positive integer')
    return 2
  }
  if (config.ledger.type !== 'redis') {
    console.error(
      'channels reads a shared ledger: with ledger.type memory the channels live inside the running gateway process',
    )
    return 2
  }
  // Warnings (e.g. about Redis durability) go to stderr, keeping stdout for the rows.
  const logger = createLogger({ level: 'warn', destination: pino.destination(2) })
  const storage = await openStorage({ config, logger, now: Date.now })
  try {
    const rows = await unsettledChannels(storage.ledger, storage.index, limit)
    let total = 0n
    for (const row of rows) {
      total += row.unsettled
      console.log(
        JSON.stringify({
          ...row,
          deposit: row.deposit.toString(),
          accepted: row.accepted.toString(),
          spent: row.spent.toString(),
          settled: row.settled.toString(),
          unsettled: row.unsettled.toString(),
          graceEndsAt:
            row.graceEndsAt === undefined ? null : new Date(row.graceEndsAt).toISOString(),
        }),
      )
    }
    console.error(
      `${rows.length} channel(s) with unsettled value, ${formatUnits(total, config.currency.decimals)} in total`,
    )
    return 0
  } finally {
    await storage.store.close()
    await storage.ledger.close()
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error)
    process.exit(1)
  },
)
