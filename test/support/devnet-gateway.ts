/**
 * The usual end-to-end setup: the shared test devnet, a loopback example upstream, and a gateway
 * on config/devnet.yaml for both (with optional edits). For suites inside vitest only: the devnet
 * comes from the global setup through `inject`.
 */
import type { Logger } from 'pino'
import { inject } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import { connectDevnet, type DevnetClient } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from './example-upstream.js'
import { devnetConfig, startTestGateway } from './gateway.js'

export type DevnetGateway = {
  readonly devnet: DevnetClient
  readonly upstream: ExampleUpstream
  readonly gateway: Gateway
  /** Stops the gateway, then the upstream. */
  stop(): Promise<void>
}

export async function startDevnetGateway(
  options: {
    edit?: Parameters<typeof devnetConfig>[0]['edit']
    extraEnv?: Record<string, string>
    logger?: Logger
    /** Settlement's chain calls on their own thread, as in production (gateway.ts). */
    chainThread?: boolean
  } = {},
): Promise<DevnetGateway> {
  const devnet = connectDevnet(inject('devnet'))
  const upstream = await startExampleUpstream()
  try {
    const gateway = await startTestGateway({
      config: devnetConfig({
        devnet,
        upstreamUrl: upstream.url,
        ...(options.edit ? { edit: options.edit } : {}),
        ...(options.extraEnv ? { extraEnv: options.extraEnv } : {}),
      }),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.chainThread === undefined ? {} : { chainThread: options.chainThread }),
    })
    return {
      devnet,
      upstream,
      gateway,
      async stop() {
        await gateway.stop()
        await upstream.close()
      },
    }
  } catch (error) {
    await upstream.close()
    throw error
  }
}
