import fc from 'fast-check'
import { encodeFunctionData, keccak256, type Address, type Hex } from 'viem'
import { describe, expect, it } from 'vitest'
import { newChannel } from '../../test/ledger/contract.js'
import { escrowAbi } from './escrow-abi.js'
import type { EscrowWrite } from './escrow.js'
import {
  encodeEscrowCall,
  encodeEscrowTransaction,
  feesOfFill,
  fillRequest,
  randomValidAfter,
  signEscrowTransaction,
  type EscrowTransaction,
} from './escrow-tx.js'
import { tempoChain } from './networks.js'
import { payeeAccount } from './signer.js'

const key: Hex = `0x${'5c'.repeat(32)}`
const serializer = tempoChain({ network: 'devnet', chainId: 1337, rpcUrl: 'http://127.0.0.1:1' })
  .serializers!.transaction!

const hexOf = (bytes: number) =>
  fc
    .uint8Array({ minLength: bytes, maxLength: bytes })
    .map((b): Hex => `0x${Buffer.from(b).toString('hex')}`)
const address: fc.Arbitrary<Address> = hexOf(20)
const uint96 = fc.bigInt({ min: 0n, max: (1n << 96n) - 1n })
const descriptor = fc.record({
  payer: address,
  payee: address,
  operator: address,
  token: address,
  salt: hexOf(32),
  authorizedSigner: address,
  expiringNonceHash: hexOf(32),
})
/** Voucher signatures: 65 bytes usually, any length (0 to 3 words and a bit) to cover the padding. */
const signature = fc.oneof(
  hexOf(65),
  fc.uint8Array({ maxLength: 100 }).map((b): Hex => `0x${Buffer.from(b).toString('hex')}`),
)
const write: fc.Arbitrary<EscrowWrite> = fc.oneof(
  fc.record({
    functionName: fc.constant('settle' as const),
    descriptor,
    cumulative: uint96,
    signature,
  }),
  fc.record({
    functionName: fc.constant('close' as const),
    descriptor,
    cumulative: uint96,
    capture: uint96,
    signature,
  }),
)

const viemCallData = (call: EscrowWrite) =>
  call.functionName === 'settle'
    ? encodeFunctionData({
        abi: escrowAbi,
        functionName: 'settle',
        args: [call.descriptor, call.cumulative, call.signature],
      })
    : encodeFunctionData({
        abi: escrowAbi,
        functionName: 'close',
        args: [call.descriptor, call.cumulative, call.capture, call.signature],
      })

const transaction: fc.Arbitrary<EscrowTransaction> = fc
  .record({
    chainId: fc.oneof(fc.constant(1337), fc.constant(4217), fc.integer({ min: 1, max: 2 ** 32 })),
    to: address,
    data: write.map(encodeEscrowCall),
    feeToken: address,
    validAfter: fc.integer({ min: 1, max: 2 ** 32 - 2 }),
    validFor: fc.integer({ min: 1, max: 2 ** 31 }),
    gas: fc.bigInt({ min: 1n, max: 30_000_000n }),
    maxFeePerGas: fc.bigInt({ min: 0n, max: 1n << 64n }),
    /** The priority fee as a share of the max fee, in thousandths (it may not exceed it). */
    priorityPermille: fc.integer({ min: 0, max: 1000 }),
  })
  .map(({ validFor, priorityPermille, ...tx }) => ({
    ...tx,
    validBefore: Math.min(tx.validAfter + validFor, 2 ** 32 - 1),
    maxPriorityFeePerGas: (tx.maxFeePerGas * BigInt(priorityPermille)) / 1000n,
  }))

/**
 * What the gateway signed before escrow-tx.ts: viem's Tempo serializer over the request its
 * `prepareTransactionRequest` returned (`to` and `data`, not `calls`), signed by viem (noble).
 */
const viaViem = (tx: EscrowTransaction) =>
  payeeAccount(key, 'noble').signTransaction(
    {
      to: tx.to,
      data: tx.data,
      feeToken: tx.feeToken,
      nonceKey: (1n << 256n) - 1n,
      nonce: 0,
      validBefore: tx.validBefore,
      validAfter: tx.validAfter,
      type: 'tempo',
      chainId: tx.chainId,
      gas: tx.gas,
      maxFeePerGas: tx.maxFeePerGas,
      maxPriorityFeePerGas: tx.maxPriorityFeePerGas,
    } as never,
    { serializer },
  )

const signWith =
  (backend: 'libsecp256k1' | 'noble') =>
  (hash: Hex): Promise<Hex> =>
    payeeAccount(key, backend).sign!({ hash })

describe('escrow call data', () => {
  it('is the bytes viem encodes, for settle and close', () => {
    fc.assert(
      fc.property(write, (call) => {
        expect(encodeEscrowCall(call)).toBe(viemCallData(call))
      }),
      { numRuns: 300 },
    )
  })

  it('refuses malformed fields instead of encoding them', () => {
    const call: Extract<EscrowWrite, { functionName: 'settle' }> = {
      functionName: 'settle',
      descriptor: newChannel().descriptor,
      cumulative: 5n,
      signature: `0x${'11'.repeat(65)}`,
    }
    expect(() => encodeEscrowCall({ ...call, cumulative: 1n << 96n })).toThrow(/uint96/)
    expect(() => encodeEscrowCall({ ...call, cumulative: -1n })).toThrow(/uint96/)
    expect(() =>
      encodeEscrowCall({ ...call, descriptor: { ...call.descriptor, payee: '0x12' } }),
    ).toThrow(/payee/)
    expect(() =>
      encodeEscrowCall({ ...call, descriptor: { ...call.descriptor, salt: '0xab' } }),
    ).toThrow(/salt/)
    expect(() => encodeEscrowCall({ ...call, signature: '0x123' })).toThrow(/signature/)
  })
})

describe('escrow transaction', () => {
  it('signs to the very bytes viem signed, with either signer', async () => {
    await fc.assert(
      fc.asyncProperty(transaction, async (tx) => {
        const expected = await viaViem(tx)
        for (const backend of ['libsecp256k1', 'noble'] as const) {
          const signed = await signEscrowTransaction(tx, signWith(backend))
          expect(signed.rawTransaction).toBe(expected)
          expect(signed.hash).toBe(keccak256(expected))
        }
      }),
      { numRuns: 150 },
    )
  })

  it('signs the preimage without the signature, whose keccak is what viem signs', async () => {
    const tx: EscrowTransaction = {
      chainId: 4217,
      to: '0x4d50500000000000000000000000000000000000',
      data: `0x${'ab'.repeat(300)}`,
      feeToken: '0x20c0000000000000000000000000000000000001',
      validBefore: 1_900_000_000,
      validAfter: 1_000,
      gas: 771_000n,
      maxFeePerGas: 24_000_000_000n,
      maxPriorityFeePerGas: 0n,
    }
    let signed: Hex | undefined
    await signEscrowTransaction(tx, async (payload) => {
      signed = payload
      return signWith('libsecp256k1')(payload)
    })
    expect(signed).toBe(keccak256(encodeEscrowTransaction(tx)))
    // A list longer than 55 bytes: the long-list prefix (0xf7 + the length's own size).
    expect(encodeEscrowTransaction(tx).slice(0, 6)).toBe('0x76f9')
    expect(() => encodeEscrowTransaction({ ...tx, validAfter: 0 })).toThrow(/validity/)
    expect(() => encodeEscrowTransaction({ ...tx, validAfter: tx.validBefore })).toThrow(/validity/)
    expect(() => encodeEscrowTransaction({ ...tx, chainId: 0 })).toThrow(/chain id/)
    expect(() => encodeEscrowTransaction({ ...tx, maxPriorityFeePerGas: 25_000_000_000n })).toThrow(
      /priority/,
    )
    expect(() => encodeEscrowTransaction(tx, `0x${'11'.repeat(64)}`)).toThrow(/65 bytes/)
    expect(() => encodeEscrowTransaction({ ...tx, data: '0xabc' })).toThrow(/call data/)
    expect(() => encodeEscrowTransaction({ ...tx, to: '0x12' })).toThrow(/to/)
  })
})

describe('fill', () => {
  it('asks the node for the fields viem asked for', () => {
    expect(
      fillRequest('0x1111111111111111111111111111111111111111', {
        to: '0x4d50500000000000000000000000000000000000',
        data: '0xabcd',
        feeToken: '0x20c0000000000000000000000000000000000001',
        validBefore: 0x6b11a8a8,
        validAfter: 0x3324a0a5,
      }),
    ).toEqual({
      from: '0x1111111111111111111111111111111111111111',
      nonce: '0x0',
      type: '0x76',
      calls: [{ to: '0x4d50500000000000000000000000000000000000', value: '0x', data: '0xabcd' }],
      feeToken: '0x20c0000000000000000000000000000000000001',
      validBefore: '0x6b11a8a8',
      validAfter: '0x3324a0a5',
      nonceKey: `0x${'f'.repeat(64)}`,
    })
  })

  it('takes gas and priority fee as filled and the max fee × 1.2, as viem did', () => {
    // An answer of the devnet's anvil, abridged.
    const answer = {
      raw: '0x76f8…',
      tx: { gas: '0xbf680', maxFeePerGas: '0x451a049ce', maxPriorityFeePerGas: '0x3b9aca00' },
    }
    expect(feesOfFill(answer)).toEqual({
      gas: 784_000n,
      maxFeePerGas: 22_259_194_000n,
      maxPriorityFeePerGas: 1_000_000_000n,
    })
  })

  it('refuses an answer without usable gas or fees', () => {
    const tx = { gas: '0x1', maxFeePerGas: '0xa', maxPriorityFeePerGas: '0x1' }
    expect(() => feesOfFill(null)).toThrow(/without a transaction/)
    expect(() => feesOfFill({ tx: { ...tx, gas: undefined } })).toThrow(/gas/)
    expect(() => feesOfFill({ tx: { ...tx, gas: '0x0' } })).toThrow(/gas limit of 0/)
    expect(() => feesOfFill({ tx: { ...tx, maxFeePerGas: 'ten' } })).toThrow(/maxFeePerGas/)
    expect(() => feesOfFill({ tx: { ...tx, maxPriorityFeePerGas: '0x100' } })).toThrow(/priority/)
  })

  it('picks validAfter at least a minute back, never 0', () => {
    for (let i = 0; i < 200; i++) {
      const at = randomValidAfter(1_800_000_000)
      expect(at).toBeGreaterThanOrEqual(1)
      expect(at).toBeLessThan(1_800_000_000 - 60)
    }
    expect(randomValidAfter(62)).toBe(1)
  })
})
