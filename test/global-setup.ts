/**
 * Starts one devnet (anvil + escrow + RPC proxy) for all integration suites and stops it after.
 * Suites reach it with `inject('devnet')` and `connectDevnet()`; suites that must move chain time
 * start a devnet of their own instead.
 */
import type { TestProject } from 'vitest/node'
import { devnetInfo, startDevnet, type DevnetInfo } from './devnet/devnet.js'

declare module 'vitest' {
  export interface ProvidedContext {
    devnet: DevnetInfo
  }
}

export default async function setup(project: TestProject) {
  const devnet = await startDevnet({ payers: 0 })
  project.provide('devnet', devnetInfo(devnet))
  return async () => {
    await devnet.stop()
  }
}
