/**
 * Micro-benchmark of the voucher signature hot path: digest cost and signer-recovery throughput of
 * each evaluated implementation, measured side by side in one process.
 *
 * Every recovering implementation first recovers all prepared vouchers and must return each one's
 * known signer, so a fast wrong answer aborts the run instead of topping the table. Each
 * measurement is bounded twice, by operation count and by wall time, and repeated in interleaved
 * rounds; the table reports the median round.
 *
 * Usage: npm run bench:voucher [-- --budget-ms=250 --rounds=3]
 */
import { createRequire } from 'node:module'
import { cpus } from 'node:os'
import { Secp256k1 } from 'ox'
import { Channel } from 'ox/tempo'
import { hashTypedData, keccak256, parseSignature, recoverTypedDataAddress } from 'viem'
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { canonicalEscrow } from '../src/chain/escrow-abi.js'
import {
  createVoucherDigester,
  createVoucherSignerRecovery,
  secp256k1Backend,
} from '../src/session/voucher-signature.js'

type Voucher = {
  channelId: Hex
  cumulativeAmount: bigint
  digest: Hex
  digestBytes: Uint8Array
  signature: Hex
  compact: Uint8Array
  recoveryId: number
  signer: Address
}

type Row = { operation: string; implementation: string; opsPerSecond: number }

type Libsecp256k1 = {
  ecdsaRecover: (
    signature: Uint8Array,
    recoveryId: number,
    message: Uint8Array,
    compressed: false,
  ) => Uint8Array
}

const chainId = 4217
const voucherCount = 64
const maxOpsPerRound = 200_000

function flag(name: string, fallback: number): number {
  const prefix = `--${name}=`
  const raw = process.argv.find((arg) => arg.startsWith(prefix))?.slice(prefix.length)
  const value = raw === undefined ? fallback : Number(raw)
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`--${name} must be a positive integer`)
  return value
}

const budgetMs = Math.min(flag('budget-ms', 250), 5_000)
const rounds = Math.min(flag('rounds', 3), 10)

function typedVoucher(channelId: Hex, cumulativeAmount: bigint) {
  return {
    domain: {
      name: 'TIP20 Channel Reserve',
      version: '1',
      chainId,
      verifyingContract: canonicalEscrow,
    },
    types: {
      Voucher: [
        { name: 'channelId', type: 'bytes32' },
        { name: 'cumulativeAmount', type: 'uint96' },
      ],
    },
    primaryType: 'Voucher',
    message: { channelId, cumulativeAmount },
  } as const
}

function randomHex(bytes: number): Hex {
  return `0x${Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex')}`
}

async function prepareVouchers(): Promise<Voucher[]> {
  const digest = createVoucherDigester({ chainId, escrow: canonicalEscrow })
  const vouchers: Voucher[] = []
  for (let i = 0; i < voucherCount; i++) {
    const account = privateKeyToAccount(randomHex(32))
    const channelId = randomHex(32)
    const cumulativeAmount = BigInt(1 + i) * 1_000n
    const signature = await account.signTypedData(typedVoucher(channelId, cumulativeAmount))
    const { r, s, yParity } = parseSignature(signature)
    vouchers.push({
      channelId,
      cumulativeAmount,
      digest: digest(channelId, cumulativeAmount),
      digestBytes: Buffer.from(digest(channelId, cumulativeAmount).slice(2), 'hex'),
      signature,
      compact: Buffer.from(`${r.slice(2)}${s.slice(2)}`, 'hex'),
      recoveryId: yParity ?? 0,
      signer: account.address,
    })
  }
  return vouchers
}

function loadLibsecp256k1(): Libsecp256k1 | undefined {
  try {
    return createRequire(import.meta.url)('secp256k1/bindings') as Libsecp256k1
  } catch {
    return undefined
  }
}

function addressOf(publicKey: Uint8Array): Address {
  return `0x${keccak256(publicKey.subarray(1)).slice(-40)}`
}

type Measured = { sync: (i: number) => unknown } | { async: (i: number) => Promise<unknown> }

async function measure(implementation: Measured): Promise<number> {
  let ops = 0
  const started = performance.now()
  const deadline = started + budgetMs
  if ('sync' in implementation) {
    while (ops < maxOpsPerRound && (ops % 64 !== 0 || performance.now() < deadline))
      implementation.sync(ops++)
  } else {
    while (ops < maxOpsPerRound && (ops % 8 !== 0 || performance.now() < deadline))
      await implementation.async(ops++)
  }
  return (ops / (performance.now() - started)) * 1_000
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

function printTable(rows: Row[]): void {
  const header = ['operation', 'implementation', 'ops/s', 'µs/op']
  const lines = rows.map((row) => [
    row.operation,
    row.implementation,
    Math.round(row.opsPerSecond).toLocaleString('en-US'),
    (1e6 / row.opsPerSecond).toFixed(2),
  ])
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]!.length)),
  )
  const format = (cells: string[]) =>
    `| ${cells.map((cell, column) => (column < 2 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join(' | ')} |`
  console.log(format(header))
  console.log(
    `|${widths.map((width, column) => (column < 2 ? ':' : '-') + '-'.repeat(width) + (column < 2 ? '-' : ':')).join('|')}|`,
  )
  for (const line of lines) console.log(format(line))
}

async function main(): Promise<void> {
  const vouchers = await prepareVouchers()
  const at = (i: number) => vouchers[i % vouchers.length]!
  const digest = createVoucherDigester({ chainId, escrow: canonicalEscrow })
  const recoverNoble = createVoucherSignerRecovery({ backend: 'noble' })
  const libsecp256k1 = loadLibsecp256k1()
  const recoverNative = libsecp256k1
    ? createVoucherSignerRecovery({ backend: 'libsecp256k1' })
    : undefined

  const implementations: {
    operation: string
    implementation: string
    run: Measured
    check?: (v: Voucher) => unknown
  }[] = [
    {
      operation: 'digest',
      implementation: 'createVoucherDigester',
      run: { sync: (i) => digest(at(i).channelId, at(i).cumulativeAmount) },
    },
    {
      operation: 'digest',
      implementation: 'ox Channel.getVoucherSignPayload',
      run: {
        sync: (i) =>
          Channel.getVoucherSignPayload({
            chainId,
            channelId: at(i).channelId,
            cumulativeAmount: at(i).cumulativeAmount,
          }),
      },
    },
    {
      operation: 'digest',
      implementation: 'viem hashTypedData',
      run: { sync: (i) => hashTypedData(typedVoucher(at(i).channelId, at(i).cumulativeAmount)) },
    },
    {
      operation: 'recover',
      implementation: 'viem recoverTypedDataAddress',
      run: {
        async: (i) =>
          recoverTypedDataAddress({
            ...typedVoucher(at(i).channelId, at(i).cumulativeAmount),
            signature: at(i).signature,
          }),
      },
      check: (v) =>
        recoverTypedDataAddress({
          ...typedVoucher(v.channelId, v.cumulativeAmount),
          signature: v.signature,
        }),
    },
    {
      operation: 'recover',
      implementation: '@noble/curves 1.9 (raw pubkey)',
      run: {
        sync: (i) =>
          Secp256k1.noble.Signature.fromCompact(at(i).compact)
            .addRecoveryBit(at(i).recoveryId)
            .recoverPublicKey(at(i).digestBytes)
            .toRawBytes(false),
      },
      check: (v) =>
        addressOf(
          Secp256k1.noble.Signature.fromCompact(v.compact)
            .addRecoveryBit(v.recoveryId)
            .recoverPublicKey(v.digestBytes)
            .toRawBytes(false),
        ),
    },
    {
      operation: 'recover',
      implementation: 'recoverVoucherSigner, noble backend',
      run: { sync: (i) => recoverNoble(at(i).digest, at(i).signature) },
      check: (v) => recoverNoble(v.digest, v.signature),
    },
  ]
  if (libsecp256k1 && recoverNative)
    implementations.push(
      {
        operation: 'recover',
        implementation: 'secp256k1 5.0.2 N-API (raw pubkey)',
        run: {
          sync: (i) =>
            libsecp256k1.ecdsaRecover(at(i).compact, at(i).recoveryId, at(i).digestBytes, false),
        },
        check: (v) =>
          addressOf(libsecp256k1.ecdsaRecover(v.compact, v.recoveryId, v.digestBytes, false)),
      },
      {
        operation: 'recover',
        implementation: 'recoverVoucherSigner, libsecp256k1 backend',
        run: { sync: (i) => recoverNative(at(i).digest, at(i).signature) },
        check: (v) => recoverNative(v.digest, v.signature),
      },
      {
        operation: 'digest + recover',
        implementation: 'createVoucherDigester + recoverVoucherSigner (libsecp256k1)',
        run: {
          sync: (i) =>
            recoverNative(digest(at(i).channelId, at(i).cumulativeAmount), at(i).signature),
        },
      },
    )

  for (const { implementation, check } of implementations) {
    if (!check) continue
    for (const voucher of vouchers) {
      const recovered = await check(voucher)
      if (typeof recovered !== 'string' || recovered.toLowerCase() !== voucher.signer.toLowerCase())
        throw new Error(
          `${implementation} recovered ${String(recovered)}, expected ${voucher.signer}`,
        )
    }
  }

  const samples = implementations.map(() => [] as number[])
  for (const { run } of implementations) await measure(run)
  for (let round = 0; round < rounds; round++)
    for (const [index, { run }] of implementations.entries())
      samples[index]!.push(await measure(run))

  console.log(
    `node ${process.version} ${process.platform}-${process.arch}, ${cpus().length}× ${cpus()[0]?.model.trim() ?? 'unknown cpu'}`,
  )
  console.log(
    `recoverVoucherSigner backend: ${secp256k1Backend}; ${rounds} rounds × ≤${budgetMs} ms per row, median shown\n`,
  )
  printTable(
    implementations.map(({ operation, implementation }, index) => ({
      operation,
      implementation,
      opsPerSecond: median(samples[index]!),
    })),
  )
}

await main()
