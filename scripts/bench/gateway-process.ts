/**
 * Entry of one gateway child: `node --import tsx scripts/bench/gateway-process.ts <spec.json>`.
 * Starts ONE gateway with `startGateway` from the spec's configuration on 127.0.0.1, port 0, and
 * prints its URL as a JSON line (child-protocol.ts) — so every gateway under test has a process
 * and an event loop of its own, as in production.
 *
 * With runtime `dist` the gateway code is imported from the `npm run build` output; tsx then only
 * loads this file, the gateway's own modules are plain compiled JavaScript.
 */
import { pino } from 'pino'
import type * as GatewayModule from '../../src/gateway.js'
import type * as LoggerModule from '../../src/logger.js'
import { serveAsChild } from './child-protocol.js'
import { readGatewaySpec, type GatewayRuntime } from './gateway-spec.js'

const specPath = process.argv[2]
if (specPath === undefined) throw new Error('usage: gateway-process.ts <spec.json>')
const spec = readGatewaySpec(specPath)

const modules = await importGateway(spec.runtime)
// Synchronous writes, like the production logger on stdout; access lines without redaction, as
// `mpp-gateway` sets them up (src/main.ts).
const destination = pino.destination({ dest: spec.logFile, sync: true })
const logger = modules.logger.createLogger({ level: 'info', destination })
const accessLogger = modules.logger.createLogger({
  level: spec.accessLog === false ? 'silent' : 'info',
  destination,
  redact: false,
})
const gateway = await modules.gateway.startGateway({
  config: spec.config,
  logger,
  accessLogger,
  host: '127.0.0.1',
  port: 0,
  payments: spec.payments,
})
serveAsChild({ url: gateway.url, stop: () => gateway.stop() })

async function importGateway(
  runtime: GatewayRuntime,
): Promise<{ gateway: typeof GatewayModule; logger: typeof LoggerModule }> {
  const root = runtime === 'dist' ? '../../dist/' : '../../src/'
  const extension = runtime === 'dist' ? 'js' : 'ts'
  const [gateway, logger] = await Promise.all([
    import(new URL(`${root}gateway.${extension}`, import.meta.url).href) as Promise<
      typeof GatewayModule
    >,
    import(new URL(`${root}logger.${extension}`, import.meta.url).href) as Promise<
      typeof LoggerModule
    >,
  ])
  return { gateway, logger }
}
