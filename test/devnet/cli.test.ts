/**
 * `npm run devnet` as a user runs it: one JSON line when ready, funded keys on a live chain, and
 * nothing left running after SIGINT or SIGTERM. Also: a taken port is a clear error.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { createInterface } from 'node:readline'
import { describe, expect, it } from 'vitest'
import { startAnvil } from './anvil.js'
import { connectDevnet, defaultDevnetChainId, type DevnetInfo } from './devnet.js'

type Printed = DevnetInfo & { anvil: { url: string; pid: number }; warning: string }

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('npm run devnet', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    'prints the devnet as one JSON line and leaves no process after %s',
    async (signal) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/devnet/cli.ts'], {
        env: { ...process.env, DEVNET_PAYERS: '2' },
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
      const lines = createInterface({ input: child.stdout })
      const line = await new Promise<string>((resolve) => lines.once('line', resolve))
      const printed = JSON.parse(line) as Printed

      expect(printed.payers).toHaveLength(2)
      expect(printed.escrow).toBe('0x4d50500000000000000000000000000000000000')
      expect(printed.warning).toMatch(/throwaway/)
      expect(printed.chainId).toBe(defaultDevnetChainId)
      const devnet = connectDevnet(printed)
      expect(await devnet.publicClient.getChainId()).toBe(printed.chainId)
      expect(await devnet.balance(printed.payers[0]!.address)).toBeGreaterThan(0n)
      expect(alive(printed.anvil.pid)).toBe(true)

      child.kill(signal)
      await exited
      expect(alive(printed.anvil.pid)).toBe(false)
      await expect(fetch(printed.rpcUrl)).rejects.toThrow()
    },
  )

  it('leaves no anvil behind even when it is killed -9', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/devnet/cli.ts'], {
      env: { ...process.env, DEVNET_PAYERS: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const line = await new Promise<string>((resolve) =>
      createInterface({ input: child.stdout }).once('line', resolve),
    )
    const { anvil } = JSON.parse(line) as Printed
    expect(alive(anvil.pid)).toBe(true)
    child.kill('SIGKILL')
    const deadline = Date.now() + 10_000
    while (alive(anvil.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    expect(alive(anvil.pid)).toBe(false)
  })

  it('starts on the chain id DEVNET_CHAIN_ID names, and refuses one that is not an id', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/devnet/cli.ts'], {
      env: { ...process.env, DEVNET_PAYERS: '0', DEVNET_CHAIN_ID: '31337' },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    const line = await new Promise<string>((resolve) =>
      createInterface({ input: child.stdout }).once('line', resolve),
    )
    const printed = JSON.parse(line) as Printed
    expect(printed.chainId).toBe(31337)
    expect(await connectDevnet(printed).publicClient.getChainId()).toBe(31337)
    child.kill('SIGTERM')
    await exited

    const refused = spawn(process.execPath, ['--import', 'tsx', 'test/devnet/cli.ts'], {
      env: { ...process.env, DEVNET_CHAIN_ID: 'mainnet' },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    refused.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const code = await new Promise<number | null>((resolve) => refused.once('exit', resolve))
    expect(code).toBe(2)
    expect(stderr).toContain('DEVNET_CHAIN_ID must be a positive integer, not mainnet')
  })

  it('reports a taken port clearly', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const address = blocker.address()
    if (!address || typeof address === 'string') throw new Error('no port')
    try {
      await expect(startAnvil({ port: address.port })).rejects.toThrow(
        `anvil: port ${address.port} on 127.0.0.1 is already in use`,
      )
    } finally {
      blocker.close()
    }
  })
})
