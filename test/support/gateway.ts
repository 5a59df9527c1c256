/**
 * Starting a real gateway for tests, benchmarks and the demo: the configuration is
 * config/devnet.yaml (the file the demo uses), with its `${ENV}` references filled from a running
 * devnet and an upstream URL, optionally edited per test, then parsed by the real loader.
 */
import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import { parseDocument } from 'yaml'
import type { Config } from '../../src/config/schema.js'
import { parseConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { startGateway, type Gateway, type StartGatewayOptions } from '../../src/gateway.js'
import type { DevnetInfo } from '../devnet/devnet.js'

export const testChallengeSecret = 'test-challenge-secret-that-is-32-bytes-long'

/** The devnet configuration for a devnet and upstream, with optional edits (YAML paths). */
export function devnetConfig(options: {
  devnet: DevnetInfo
  upstreamUrl: string
  edit?: (doc: ReturnType<typeof parseDocument>) => void
  extraEnv?: Record<string, string>
}): Config {
  const text = readFileSync(new URL('../../config/devnet.yaml', import.meta.url), 'utf8')
  const doc = parseDocument(text)
  options.edit?.(doc)
  return parseConfig({
    text: doc.toString(),
    source: 'config/devnet.yaml',
    env: { ...devnetEnv(options.devnet, options.upstreamUrl), ...options.extraEnv },
  })
}

/** The variables config/devnet.yaml references, for a devnet and an upstream (port 0). */
export function devnetEnv(devnet: DevnetInfo, upstreamUrl: string): Record<string, string> {
  return {
    DEVNET_RPC_URL: devnet.rpcUrl,
    DEVNET_CHAIN_ID: String(devnet.chainId),
    DEVNET_PAYEE_ADDRESS: devnet.payee.address,
    DEVNET_PAYEE_KEY: devnet.payee.privateKey,
    UPSTREAM_URL: upstreamUrl,
    MPP_CHALLENGE_SECRET: testChallengeSecret,
    GATEWAY_HOST: '127.0.0.1',
    GATEWAY_PORT: '0',
  }
}

/** A logger that keeps lines in memory (tests may assert on them) and prints nothing. */
export function memoryLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  const logger = createLogger({
    level: 'debug',
    destination: {
      write(line: string) {
        lines.push(JSON.parse(line) as Record<string, unknown>)
      },
    },
  })
  return { logger, lines }
}

export async function startTestGateway(
  options: Omit<StartGatewayOptions, 'logger'> & { logger?: Logger },
): Promise<Gateway> {
  return startGateway({
    host: '127.0.0.1',
    port: 0,
    logger: options.logger ?? memoryLogger().logger,
    // The chain thread costs each gateway ~1.5 s of CPU to start; the suites that start gateways
    // by the dozen run settlement on the event loop, and the ones that test it ask for the thread.
    chainThread: false,
    ...options,
  })
}
