/**
 * The payee signer pays settlement fees: a gateway whose signer holds no fee token says so at
 * startup, one with funds logs its balance.
 */
import { getAddress } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { describe, expect, inject, it } from 'vitest'
import { connectDevnet } from '../devnet/devnet.js'
import { devnetConfig, memoryLogger, startTestGateway } from '../support/gateway.js'
import { until } from '../support/wait.js'

const upstreamUrl = 'http://127.0.0.1:9' // never called: no request is sent

describe('payee signer fee balance at startup', () => {
  const devnet = connectDevnet(inject('devnet'))

  async function startupLines(env: Record<string, string>) {
    const { logger, lines } = memoryLogger()
    const gateway = await startTestGateway({
      config: devnetConfig({ devnet, upstreamUrl, extraEnv: env }),
      logger,
    })
    try {
      const about = (line: Record<string, unknown>) => /fee (token|balance)/.test(String(line.msg))
      return await until(
        'the fee balance line',
        () => Promise.resolve(lines.some(about) ? lines.filter(about) : undefined),
        10_000,
      )
    } finally {
      await gateway.stop()
    }
  }

  it('warns when the signer holds no fee token', async () => {
    const key = generatePrivateKey()
    const address = privateKeyToAccount(key).address
    const lines = await startupLines({ DEVNET_PAYEE_ADDRESS: address, DEVNET_PAYEE_KEY: key })
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        signer: address,
        feeToken: getAddress(devnet.feeToken),
        msg: expect.stringContaining('holds no fee token') as string,
      }),
    ])
  })

  it('logs the balance of a funded signer', async () => {
    const balance = await devnet.balance(devnet.payee.address, devnet.feeToken)
    expect(balance).toBeGreaterThan(0n)
    const lines = await startupLines({})
    expect(lines).toEqual([
      expect.objectContaining({
        level: 30,
        signer: devnet.payee.address,
        balance: expect.any(String) as string,
        msg: 'payee signer fee balance',
      }),
    ])
  })
})
