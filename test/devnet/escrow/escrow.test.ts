/**
 * The devnet escrow stand-in: its artifact is what the source compiles to, its ABI is the
 * precompile's, its ids and digests match ox/tempo and protocol.md §7, and its rules are the
 * precompile's (forced close with a 900 s grace, settle bounds, who may call what).
 */
import { Channel } from 'ox/tempo'
import {
  BaseError,
  ContractFunctionRevertedError,
  parseEventLogs,
  toEventSignature,
  toFunctionSignature,
  zeroAddress,
  type Abi,
  type Address,
  type Hex,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { canonicalEscrow, escrowAbi } from '../../../src/chain/escrow-abi.js'
import { nonceHashSlot, startDevnet, type Devnet, type DevnetKey } from '../devnet.js'
import { signVoucher as signWith } from '../../support/vouchers.js'
import { artifactPath, compileEscrow, renderArtifact, type EscrowArtifact } from './compile.js'

const committed = JSON.parse(readFileSync(artifactPath, 'utf8')) as EscrowArtifact

type Param = { type: string; components?: readonly Param[] }

/** A parameter's canonical type, tuples expanded: `(address,uint96)[]`. */
function canonicalType(param: Param): string {
  if (!param.components) return param.type
  return `(${param.components.map(canonicalType).join(',')})${param.type.slice('tuple'.length)}`
}

/** One comparable line per ABI item: selector-relevant signature, outputs, indexing. */
function signature(item: Abi[number]): string {
  switch (item.type) {
    case 'function':
      return `${toFunctionSignature(item)}->${item.outputs.map(canonicalType).join(',')}`
    case 'event':
      return `${toEventSignature(item)}:${item.inputs.map((i) => (i.indexed ? 'i' : '-')).join('')}`
    case 'error':
      return `error ${item.name}(${item.inputs.map((i) => i.type).join(',')})`
    case 'constructor':
    case 'fallback':
    case 'receive':
      return item.type
  }
}

describe('escrow artifact', () => {
  it('is exactly what the committed source compiles to', () => {
    expect(readFileSync(artifactPath, 'utf8')).toBe(renderArtifact(compileEscrow()))
  }, 120_000)

  it("exposes the precompile's ABI, plus only the devnet nonce-hash slot", () => {
    const precompile = new Set(escrowAbi.map(signature))
    const standIn = new Set(committed.abi.map(signature))
    for (const item of precompile) expect(standIn).toContain(item)
    const extras = [...standIn].filter((item) => !precompile.has(item))
    expect(extras).toEqual(['EXPIRING_NONCE_HASH_SLOT()->bytes32'])
  })

  it('reads the nonce hash from the slot the RPC proxy writes', async () => {
    const devnet = await startDevnet({ payers: 0 })
    try {
      const slot = await devnet.publicClient.readContract({
        address: devnet.escrow,
        abi: committed.abi,
        functionName: 'EXPIRING_NONCE_HASH_SLOT',
      })
      expect(slot).toBe(nonceHashSlot)
    } finally {
      await devnet.stop()
    }
  })
})

const vectorChannel = {
  payer: '0x1111111111111111111111111111111111111111',
  payee: '0x2222222222222222222222222222222222222222',
  operator: zeroAddress,
  token: '0x20c0000000000000000000000000000000000001',
  salt: `0x${'0'.repeat(63)}1`,
  authorizedSigner: '0x3333333333333333333333333333333333333333',
  expiringNonceHash: `0x${'0'.repeat(63)}2`,
} as const satisfies Record<string, Address>

const specChannel = {
  payer: '0x1111111111111111111111111111111111111111',
  payee: '0x742d35Cc6634c0532925a3b844bC9e7595F8fE00',
  operator: zeroAddress,
  token: '0x20c0000000000000000000000000000000000000',
  salt: `0x${'aa'.repeat(32)}`,
  authorizedSigner: zeroAddress,
  expiringNonceHash: `0x${'bb'.repeat(32)}`,
} as const satisfies Record<string, Address>

type Descriptor = typeof vectorChannel | typeof specChannel

describe.each([
  {
    chainId: 4217,
    domain: '0x6465ffa0b0c1e7cfc1a894ba54d79615bc06fd7cc9cfec558f3df82189d17367',
    ids: [
      [vectorChannel, '0xa392474fdbb5c6753e8789236893343f11200f43ba53cca09c0cda3651946ef2'],
      [specChannel, '0x10ccd2bb009fa0ae6d9c23eef69fa9e4304e8c6aacf89b07f73b33d761820214'],
    ],
    digests: [
      [vectorChannel, 100n, '0x22bb33a0c0d3e04c9312dd8c70c80154e953fef495dd76ffa14388a9c7f987d3'],
      [specChannel, 250_000n, '0xcdf8f30a98267ccc8a10464cf989ea6448eeb174e5613ec899d260338490c94c'],
    ],
  },
  {
    chainId: 42431,
    domain: '0xa3aa475070603a80823360e5a4a0d3b4fe2cd4e82a109ee3c21a4640a199688d',
    ids: [[specChannel, '0x4f7dd969ac058d541821f48506d951ca17ba8e21046ef96c1edd760241185410']],
    digests: [],
  },
] as {
  chainId: number
  domain: Hex
  ids: [Descriptor, Hex][]
  digests: [Descriptor, bigint, Hex][]
}[])('escrow on a chain with id $chainId', ({ chainId, domain, ids, digests }) => {
  let devnet: Devnet
  beforeAll(async () => {
    devnet = await startDevnet({ payers: 0, chainId })
  })
  afterAll(async () => {
    await devnet.stop()
  })

  const read = <T>(functionName: string, args: readonly unknown[] = []) =>
    devnet.publicClient.readContract({
      address: canonicalEscrow,
      abi: escrowAbi,
      functionName: functionName as never,
      args: args,
    }) as Promise<T>

  it('has the protocol.md §7 domain separator and voucher typehash', async () => {
    expect(await read<Hex>('domainSeparator')).toBe(domain)
    expect(Channel.domainSeparator({ chainId })).toBe(domain)
    expect(await read<Hex>('VOUCHER_TYPEHASH')).toBe(
      '0x4730b4b2fe8de522475e80e010877c5b58ad10eb07fd0436615ee123f743bbe8',
    )
    expect(await read<bigint>('CLOSE_GRACE_PERIOD')).toBe(900n)
  })

  it('computes channel ids equal to ox/tempo and the §7 vectors', async () => {
    for (const [d, expected] of ids) {
      const onChain = await read<Hex>('computeChannelId', [
        d.payer,
        d.payee,
        d.operator,
        d.token,
        d.salt,
        d.authorizedSigner,
        d.expiringNonceHash,
      ])
      expect(onChain).toBe(expected)
      expect(Channel.computeId(d, { chainId })).toBe(expected)
    }
  })

  it('computes voucher digests equal to ox/tempo and the §7 vectors', async () => {
    for (const [d, amount, expected] of digests) {
      const channelId = Channel.computeId(d, { chainId })
      expect(await read<Hex>('getVoucherDigest', [channelId, amount])).toBe(expected)
      expect(Channel.getVoucherSignPayload({ chainId, channelId, cumulativeAmount: amount })).toBe(
        expected,
      )
    }
  })
})

describe('escrow rules', () => {
  let devnet: Devnet
  let payer: DevnetKey
  let stranger: DevnetKey
  const deposit = 1_000_000n

  beforeAll(async () => {
    devnet = await startDevnet({ payers: 2 })
    ;[payer, stranger] = devnet.payers as [DevnetKey, DevnetKey]
  })
  afterAll(async () => {
    await devnet.stop()
  })

  /** Opens a channel from `payer` to the devnet payee and returns its descriptor and id. */
  async function openChannel(options: { authorizedSigner?: Address } = {}) {
    const salt = `0x${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex')}`
    const receipt = await devnet.write(payer.privateKey, {
      address: devnet.escrow,
      abi: escrowAbi,
      functionName: 'open',
      args: [
        devnet.payee.address,
        zeroAddress,
        devnet.token,
        deposit,
        salt,
        options.authorizedSigner ?? zeroAddress,
      ],
    })
    const [opened] = parseEventLogs({
      abi: escrowAbi,
      eventName: 'ChannelOpened',
      logs: receipt.logs,
    })
    if (!opened) throw new Error('no ChannelOpened event')
    const descriptor = {
      payer: opened.args.payer,
      payee: opened.args.payee,
      operator: opened.args.operator,
      token: opened.args.token,
      salt: opened.args.salt,
      authorizedSigner: opened.args.authorizedSigner,
      expiringNonceHash: opened.args.expiringNonceHash,
    }
    expect(opened.args.channelId).toBe(Channel.computeId(descriptor, { chainId: devnet.chainId }))
    return { descriptor, channelId: opened.args.channelId }
  }

  const signVoucher = (key: Hex, channelId: Hex, cumulative: bigint) =>
    signWith(key, { chainId: devnet.chainId, escrow: devnet.escrow, channelId, cumulative })

  const state = (channelId: Hex) =>
    devnet.publicClient.readContract({
      address: devnet.escrow,
      abi: escrowAbi,
      functionName: 'getChannelState',
      args: [channelId],
    })

  /** The custom error name a call reverts with (simulated against the latest block). */
  async function revertName(
    from: Address,
    functionName: string,
    args: readonly unknown[],
  ): Promise<string | undefined> {
    try {
      await devnet.publicClient.simulateContract({
        account: from,
        address: devnet.escrow,
        abi: escrowAbi,
        functionName: functionName as never,
        args: args,
      })
      return undefined
    } catch (err) {
      const reverted =
        err instanceof BaseError
          ? err.walk((e) => e instanceof ContractFunctionRevertedError)
          : undefined
      if (reverted instanceof ContractFunctionRevertedError) return reverted.data?.errorName
      throw err
    }
  }

  it('forced close: withdraw waits out the grace period, a payee settle inside it is honoured', async () => {
    const { descriptor, channelId } = await openChannel()
    await devnet.write(payer.privateKey, {
      address: devnet.escrow,
      abi: escrowAbi,
      functionName: 'requestClose',
      args: [descriptor],
    })
    const requested = await state(channelId)
    expect(requested.closeRequestedAt).toBeGreaterThan(0)
    expect(await revertName(payer.address, 'withdraw', [descriptor])).toBe('CloseNotReady')

    const captured = 300_000n
    await devnet.write(devnet.payee.privateKey, {
      address: devnet.escrow,
      abi: escrowAbi,
      functionName: 'settle',
      args: [descriptor, captured, await signVoucher(payer.privateKey, channelId, captured)],
    })
    expect(await state(channelId)).toEqual({
      settled: captured,
      deposit,
      closeRequestedAt: requested.closeRequestedAt,
    })

    // Blocks at exact offsets from the request: a simulation runs in the latest block's context.
    await devnet.mineAt(requested.closeRequestedAt + 899)
    expect(await revertName(payer.address, 'withdraw', [descriptor])).toBe('CloseNotReady')
    await devnet.mineAt(requested.closeRequestedAt + 900)
    expect(await revertName(payer.address, 'withdraw', [descriptor])).toBeUndefined()

    const payerBefore = await devnet.balance(payer.address)
    const receipt = await devnet.write(payer.privateKey, {
      address: devnet.escrow,
      abi: escrowAbi,
      functionName: 'withdraw',
      args: [descriptor],
    })
    const [closed] = parseEventLogs({
      abi: escrowAbi,
      eventName: 'ChannelClosed',
      logs: receipt.logs,
    })
    expect(closed?.args).toMatchObject({
      settledToPayee: captured,
      refundedToPayer: deposit - captured,
    })
    expect(await devnet.balance(payer.address)).toBe(payerBefore + deposit - captured)
    expect(await state(channelId)).toEqual({ settled: 0n, deposit: 0n, closeRequestedAt: 0 })
  })

  it('rejects bad calls with the precompile errors', async () => {
    const { descriptor, channelId } = await openChannel()
    const payee = devnet.payee.address
    const voucher = (amount: bigint) => signVoucher(payer.privateKey, channelId, amount)

    expect(
      await revertName(payee, 'settle', [descriptor, deposit + 1n, await voucher(deposit + 1n)]),
    ).toBe('AmountExceedsDeposit')
    expect(
      await revertName(stranger.address, 'settle', [descriptor, 1_000n, await voucher(1_000n)]),
    ).toBe('NotPayeeOrOperator')
    expect(
      await revertName(payee, 'settle', [
        descriptor,
        1_000n,
        await signVoucher(stranger.privateKey, channelId, 1_000n),
      ]),
    ).toBe('InvalidSignature')
    expect(await revertName(stranger.address, 'topUp', [descriptor, 1_000n])).toBe('NotPayer')
    expect(await revertName(stranger.address, 'requestClose', [descriptor])).toBe('NotPayer')

    await devnet.write(devnet.payee.privateKey, {
      address: devnet.escrow,
      abi: escrowAbi,
      functionName: 'settle',
      args: [descriptor, 5_000n, await voucher(5_000n)],
    })
    expect(await revertName(payee, 'settle', [descriptor, 5_000n, await voucher(5_000n)])).toBe(
      'AmountNotIncreasing',
    )
    expect(await revertName(payee, 'settle', [descriptor, 4_000n, await voucher(4_000n)])).toBe(
      'AmountNotIncreasing',
    )
    expect(
      await revertName(payee, 'close', [descriptor, 8_000n, 4_000n, await voucher(8_000n)]),
    ).toBe('CaptureAmountInvalid')
    const unknown = { ...descriptor, salt: `0x${'00'.repeat(32)}` }
    expect(await revertName(payee, 'settle', [unknown, 1_000n, await voucher(1_000n)])).toBe(
      'ChannelNotFound',
    )
    expect(await revertName(payer.address, 'withdraw', [descriptor])).toBe('CloseNotReady')
    expect(await state(channelId)).toEqual({ settled: 5_000n, deposit, closeRequestedAt: 0 })
  })

  it('accepts a voucher from the authorized signer, not from the payer, when one is set', async () => {
    const signer = privateKeyToAccount(stranger.privateKey)
    const { descriptor, channelId } = await openChannel({ authorizedSigner: signer.address })
    const payee = devnet.payee.address
    expect(
      await revertName(payee, 'settle', [
        descriptor,
        1_000n,
        await signVoucher(payer.privateKey, channelId, 1_000n),
      ]),
    ).toBe('InvalidSignature')
    expect(
      await revertName(payee, 'settle', [
        descriptor,
        1_000n,
        await signVoucher(stranger.privateKey, channelId, 1_000n),
      ]),
    ).toBeUndefined()
  })

  it('topUp cancels a pending close request; close pays exactly the capture and refunds the rest', async () => {
    const { descriptor, channelId } = await openChannel()
    await devnet.write(payer.privateKey, {
      address: devnet.escrow,
      abi: escrowAbi,
      functionName: 'requestClose',
      args: [descriptor],
    })
    await devnet.write(payer.privateKey, {
      address: devnet.escrow,
      abi: escrowAbi,
      functionName: 'topUp',
      args: [descriptor, 500_000n],
    })
    expect(await state(channelId)).toEqual({
      settled: 0n,
      deposit: deposit + 500_000n,
      closeRequestedAt: 0,
    })

    const payeeBefore = await devnet.balance(devnet.payee.address)
    const payerBefore = await devnet.balance(payer.address)
    const signed = 900_000n
    const capture = 700_000n
    await devnet.write(devnet.payee.privateKey, {
      address: devnet.escrow,
      abi: escrowAbi,
      functionName: 'close',
      args: [descriptor, signed, capture, await signVoucher(payer.privateKey, channelId, signed)],
    })
    expect(await devnet.balance(devnet.payee.address)).toBe(payeeBefore + capture)
    expect(await devnet.balance(payer.address)).toBe(payerBefore + deposit + 500_000n - capture)
    expect(await state(channelId)).toEqual({ settled: 0n, deposit: 0n, closeRequestedAt: 0 })
  })
})
