import { encodeFunctionData, recoverAddress, type Hex } from 'viem'
import { describe, expect, it } from 'vitest'
import { newChannel } from '../../test/ledger/contract.js'
import { escrowAbi } from './escrow-abi.js'
import { tempoChain } from './networks.js'
import { payeeAccount, transactionSignerBackend } from './signer.js'

const key: Hex = `0x${'5c'.repeat(32)}`
const chain = tempoChain({ network: 'devnet', chainId: 1337, rpcUrl: 'http://127.0.0.1:1' })
const serializer = chain.serializers!.transaction!

describe('payee account', () => {
  it('signs with libsecp256k1 on this machine', () => {
    expect(transactionSignerBackend).toBe('libsecp256k1')
  })

  it('signs a Tempo settle transaction to the very bytes viem signs', async () => {
    const transaction = {
      type: 'tempo',
      chainId: 1337,
      calls: [
        {
          to: '0x4d50500000000000000000000000000000000000',
          data: encodeFunctionData({
            abi: escrowAbi,
            functionName: 'settle',
            args: [newChannel().descriptor, 30_000n, `0x${'11'.repeat(65)}`],
          }),
          value: 0n,
        },
      ],
      gas: 120_000n,
      maxFeePerGas: 20_000_000_000n,
      maxPriorityFeePerGas: 1n,
      nonce: 0,
      nonceKey: (1n << 256n) - 1n,
      validBefore: 1_900_000_000,
      feeToken: '0x20c0000000000000000000000000000000000001',
    } as const
    const fast = await payeeAccount(key).signTransaction(transaction as never, { serializer })
    const viem = await payeeAccount(key, 'noble').signTransaction(transaction as never, {
      serializer,
    })
    expect(fast).toBe(viem)
    expect(fast.startsWith('0x76')).toBe(true)
  })

  it('signs a hash to the very signature viem makes (what escrow transactions are signed with)', async () => {
    for (const fill of ['00', '01', '7f', 'ab', 'fe']) {
      const hash: Hex = `0x${fill.repeat(32)}`
      const fast = await payeeAccount(key).sign!({ hash })
      expect(fast).toBe(await payeeAccount(key, 'noble').sign!({ hash }))
      expect(fast).toMatch(/^0x[0-9a-f]{128}(1b|1c)$/)
    }
    // A hash at or above the curve order (a keccak output with odds of about 2^-128): libsecp256k1
    // seeds its RFC 6979 nonce with the hash as is, noble with it reduced, so the signatures differ;
    // both are valid signatures of the account.
    const high: Hex = `0x${'ff'.repeat(32)}`
    const signature = await payeeAccount(key).sign!({ hash: high })
    expect(await recoverAddress({ hash: high, signature })).toBe(payeeAccount(key).address)
    await expect(payeeAccount(key).sign!({ hash: '0x1234' })).rejects.toThrow(/32 bytes/)
  })

  it('signs a plain EIP-1559 transaction to the very bytes viem signs', async () => {
    const transaction = {
      type: 'eip1559',
      chainId: 1,
      to: '0x2222222222222222222222222222222222222222',
      value: 1n,
      nonce: 7,
      gas: 21_000n,
      maxFeePerGas: 2n,
      maxPriorityFeePerGas: 1n,
    } as const
    expect(await payeeAccount(key).signTransaction(transaction)).toBe(
      await payeeAccount(key, 'noble').signTransaction(transaction),
    )
  })
})
