/**
 * Voucher digest and signer recovery against protocol.md §7 vectors 6–7, ox `Channel`, viem's
 * EIP-712 recovery, and every TIP-1020 encoding the gateway must refuse. Each recovery property
 * runs on every secp256k1 backend that loads here, so the noble fallback is held to the same rules.
 */
import fc from 'fast-check'
import { Address as OxAddress, P256, WebAuthnP256 } from 'ox'
import { Channel, SignatureEnvelope } from 'ox/tempo'
import {
  bytesToHex,
  concat,
  hashTypedData,
  hexToBigInt,
  numberToHex,
  parseSignature,
  recoverTypedDataAddress,
  serializeCompactSignature,
  signatureToCompactSignature,
} from 'viem'
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import { voucherTypedData } from '../../test/support/vouchers.js'
import { canonicalEscrow } from '../chain/escrow-abi.js'
import {
  createVoucherDigester,
  createVoucherSignerRecovery,
  recoverVoucherSigner,
  secp256k1Backend,
  voucherDomainSeparator,
  voucherDomainTypehash,
  voucherTypehash,
} from './voucher-signature.js'
import type { Secp256k1Backend } from './voucher-signature.js'

const secp256k1Order = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const p256Order = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n
const maxUint96 = (1n << 96n) - 1n
const mainnet = { chainId: 4217, escrow: canonicalEscrow }
const digestMainnet = createVoucherDigester(mainnet)
const vectorChannelId: Hex = '0xa392474fdbb5c6753e8789236893343f11200f43ba53cca09c0cda3651946ef2'
const anvilKey: Hex = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const anvilAddress: Address = '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266'

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => bytesToHex(bytes))
const amount = fc.bigInt({ min: 0n, max: maxUint96 })
const privateKey = fc
  .bigInt({ min: 1n, max: secp256k1Order - 1n })
  .map((key) => numberToHex(key, { size: 32 }))

const typedVoucher = (options: {
  chainId: number
  escrow: Address
  channelId: Hex
  cumulativeAmount: bigint
}) => voucherTypedData({ ...options, cumulative: options.cumulativeAmount })

async function signVoucher(key: Hex, channelId: Hex, cumulativeAmount: bigint) {
  const typed = typedVoucher({ ...mainnet, channelId, cumulativeAmount })
  const signature = await privateKeyToAccount(key).signTypedData(typed)
  return { typed, signature, digest: digestMainnet(channelId, cumulativeAmount) }
}

function withLastByte(signature: Hex, byte: string): Hex {
  return `${signature.slice(0, -2)}${byte}` as Hex
}

describe('voucher digest', () => {
  it('matches the EIP-712 typehashes and domain separators of protocol.md §7 vector 6', () => {
    expect(voucherTypehash).toBe(
      '0x4730b4b2fe8de522475e80e010877c5b58ad10eb07fd0436615ee123f743bbe8',
    )
    expect(voucherDomainTypehash).toBe(
      '0x8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f',
    )
    expect(voucherDomainSeparator(mainnet)).toBe(
      '0x6465ffa0b0c1e7cfc1a894ba54d79615bc06fd7cc9cfec558f3df82189d17367',
    )
    expect(voucherDomainSeparator({ chainId: 42431, escrow: canonicalEscrow })).toBe(
      '0xa3aa475070603a80823360e5a4a0d3b4fe2cd4e82a109ee3c21a4640a199688d',
    )
  })

  it('matches the voucher digests of protocol.md §7 vector 7', () => {
    expect(digestMainnet(vectorChannelId, 100n)).toBe(
      '0x22bb33a0c0d3e04c9312dd8c70c80154e953fef495dd76ffa14388a9c7f987d3',
    )
    expect(
      digestMainnet('0x10ccd2bb009fa0ae6d9c23eef69fa9e4304e8c6aacf89b07f73b33d761820214', 250000n),
    ).toBe('0xcdf8f30a98267ccc8a10464cf989ea6448eeb174e5613ec899d260338490c94c')
  })

  it('equals ox Channel.getVoucherSignPayload for any chain, channel and amount', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        bytes32,
        amount,
        (chainId, channelId, cumulativeAmount) => {
          const digest = createVoucherDigester({ chainId, escrow: canonicalEscrow })
          expect(digest(channelId, cumulativeAmount)).toBe(
            Channel.getVoucherSignPayload({ chainId, channelId, cumulativeAmount }),
          )
        },
      ),
      { numRuns: 300 },
    )
  })

  it('equals viem hashTypedData for any escrow, and reuses its buffers without leaking state', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 20 }).map((bytes) => bytesToHex(bytes)),
        fc.array(fc.tuple(bytes32, amount), { minLength: 1, maxLength: 5 }),
        (escrow, vouchers) => {
          const digest = createVoucherDigester({ chainId: 42431, escrow })
          for (const [channelId, cumulativeAmount] of vouchers)
            expect(digest(channelId, cumulativeAmount)).toBe(
              hashTypedData(typedVoucher({ chainId: 42431, escrow, channelId, cumulativeAmount })),
            )
        },
      ),
      { numRuns: 200 },
    )
  })

  it('accepts the uint96 bounds and throws outside them', () => {
    expect(digestMainnet(vectorChannelId, 0n)).toMatch(/^0x[0-9a-f]{64}$/)
    expect(digestMainnet(vectorChannelId, maxUint96)).toBe(
      Channel.getVoucherSignPayload({
        chainId: 4217,
        channelId: vectorChannelId,
        cumulativeAmount: maxUint96,
      }),
    )
    expect(() => digestMainnet(vectorChannelId, maxUint96 + 1n)).toThrow(RangeError)
    expect(() => digestMainnet(vectorChannelId, -1n)).toThrow(RangeError)
    expect(() => digestMainnet(vectorChannelId, 100 as unknown as bigint)).toThrow(RangeError)
  })

  it('throws for a channel id that is not 32-byte hex and for an invalid domain', () => {
    expect(() => digestMainnet('0x1234', 1n)).toThrow(TypeError)
    expect(() => digestMainnet(`0x${'zz'.repeat(32)}`, 1n)).toThrow(TypeError)
    expect(() => createVoucherDigester({ chainId: -1, escrow: canonicalEscrow })).toThrow(TypeError)
    expect(() => createVoucherDigester({ chainId: 1.5, escrow: canonicalEscrow })).toThrow(
      TypeError,
    )
    expect(() => createVoucherDigester({ chainId: 1, escrow: '0x1234' })).toThrow(TypeError)
  })
})

describe('secp256k1 backend', () => {
  it('loads libsecp256k1 on platforms the secp256k1 package ships prebuilt binaries for', () => {
    const prebuilt = ['linux-x64', 'darwin-arm64', 'win32-x64']
    if (prebuilt.includes(`${process.platform}-${process.arch}`))
      expect(secp256k1Backend).toBe('libsecp256k1')
    else expect(secp256k1Backend).toBe('noble')
  })

  it('is what recoverVoucherSigner uses', async () => {
    const { digest, signature } = await signVoucher(anvilKey, vectorChannelId, 100n)
    expect(recoverVoucherSigner(digest, signature)).toBe(anvilAddress)
  })
})

const backends: Secp256k1Backend[] =
  secp256k1Backend === 'libsecp256k1' ? ['libsecp256k1', 'noble'] : ['noble']

describe.each(backends)('secp256k1 signatures (%s)', (backend) => {
  const recover = createVoucherSignerRecovery({ backend })

  it('recovers a fixed key (anvil account 0) as a lowercase address', async () => {
    const { digest, signature } = await signVoucher(anvilKey, vectorChannelId, 100n)
    expect(recover(digest, signature)).toBe(anvilAddress)
    const upper = (hex: Hex): Hex => `0x${hex.slice(2).toUpperCase()}`
    expect(recover(upper(digest), upper(signature))).toBe(anvilAddress)
  })

  it('agrees with viem recoverTypedDataAddress for random keys, channels and amounts', async () => {
    await fc.assert(
      fc.asyncProperty(privateKey, bytes32, amount, async (key, channelId, cumulativeAmount) => {
        const { typed, signature, digest } = await signVoucher(key, channelId, cumulativeAmount)
        const expected = await recoverTypedDataAddress({ ...typed, signature })
        expect(recover(digest, signature)).toBe(expected.toLowerCase())
        expect(recover(digestMainnet(channelId, cumulativeAmount ^ 1n), signature)).not.toBe(
          expected.toLowerCase(),
        )
      }),
      { numRuns: 40 },
    )
  })

  it('rejects the high-s twin of a valid signature, which viem still accepts', async () => {
    await fc.assert(
      fc.asyncProperty(privateKey, amount, async (key, cumulativeAmount) => {
        const { typed, signature, digest } = await signVoucher(
          key,
          vectorChannelId,
          cumulativeAmount,
        )
        const { r, s, yParity } = parseSignature(signature)
        const highS = concat([
          r,
          numberToHex(secp256k1Order - hexToBigInt(s), { size: 32 }),
          yParity === 0 ? '0x1c' : '0x1b',
        ])
        const signer = await recoverTypedDataAddress({ ...typed, signature: highS })
        expect(signer.toLowerCase()).toBe(recover(digest, signature))
        expect(recover(digest, highS)).toBeUndefined()
      }),
      { numRuns: 20 },
    )
  })

  it('accepts only v = 27 or 28', async () => {
    const { digest, signature } = await signVoucher(anvilKey, vectorChannelId, 7n)
    const yParity = parseSignature(signature).yParity
    expect(recover(digest, withLastByte(signature, yParity === 0 ? '1b' : '1c'))).toBe(anvilAddress)
    for (const v of ['00', '01', '1d', '1e', '25', '26', 'ff'])
      expect(recover(digest, withLastByte(signature, v)), `v=0x${v}`).toBeUndefined()
  })

  it('rejects r or s of zero and r at or above the curve order', async () => {
    const { digest, signature } = await signVoucher(anvilKey, vectorChannelId, 7n)
    const { r, s } = parseSignature(signature)
    const v = signature.slice(-2)
    const zero = numberToHex(0n, { size: 32 })
    const order = numberToHex(secp256k1Order, { size: 32 })
    expect(recover(digest, concat([zero, s, `0x${v}`]))).toBeUndefined()
    expect(recover(digest, concat([r, zero, `0x${v}`]))).toBeUndefined()
    expect(recover(digest, concat([order, s, `0x${v}`]))).toBeUndefined()
    expect(recover(digest, concat([`0x${'ff'.repeat(32)}`, s, `0x${v}`]))).toBeUndefined()
  })

  it('rejects the 64-byte EIP-2098 compact form and non-canonical lengths', async () => {
    const { digest, signature } = await signVoucher(anvilKey, vectorChannelId, 7n)
    const compact = serializeCompactSignature(
      signatureToCompactSignature(parseSignature(signature)),
    )
    expect(compact.length).toBe(2 + 128)
    expect(recover(digest, compact)).toBeUndefined()
    expect(recover(digest, `${signature}00`)).toBeUndefined()
    expect(recover(digest, `0x00${signature.slice(2)}`)).toBeUndefined()
    expect(recover(digest, signature.slice(2) as Hex)).toBeUndefined()
    expect(recover(digest, signature.slice(0, -1) as Hex)).toBeUndefined()
  })

  it('rejects keychain envelopes (0x03 and 0x04) around a valid signature', async () => {
    const { digest, signature } = await signVoucher(anvilKey, vectorChannelId, 7n)
    const inner = SignatureEnvelope.from(signature)
    for (const version of ['v1', 'v2'] as const) {
      const keychain = SignatureEnvelope.serialize({
        type: 'keychain',
        userAddress: anvilAddress,
        inner,
        version,
      })
      expect(keychain.slice(0, 4)).toBe(version === 'v1' ? '0x03' : '0x04')
      expect(recover(digest, keychain)).toBeUndefined()
    }
  })

  it('returns undefined for garbage and never throws', () => {
    const prefixed = fc
      .tuple(fc.constantFrom('01', '02', '03', '04', '05', 'ff'), fc.uint8Array({ maxLength: 400 }))
      .map(([prefix, bytes]) => `0x${prefix}${bytesToHex(bytes).slice(2)}`)
    const secp256k1Shaped = fc
      .uint8Array({ minLength: 65, maxLength: 65 })
      .map((bytes) => bytesToHex(bytes))
    const anything = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((bytes) => bytesToHex(bytes)),
      prefixed,
      secp256k1Shaped,
      fc.string(),
      fc.anything(),
    )
    fc.assert(
      fc.property(anything, fc.oneof(bytes32, fc.anything()), (signature, digest) => {
        const result = recover(digest as Hex, signature as Hex)
        const secp256k1Sized = typeof signature === 'string' && signature.length === 2 + 130
        if (secp256k1Sized)
          expect(result === undefined || /^0x[0-9a-f]{40}$/.test(result)).toBe(true)
        else expect(result).toBeUndefined()
      }),
      { numRuns: 2000 },
    )
  })
})

describe('P256 and WebAuthn envelopes', () => {
  const digest = digestMainnet(vectorChannelId, 250000n)

  function p256Envelope(options: { prehash: boolean; payload?: Hex }) {
    const { privateKey, publicKey } = P256.createKeyPair()
    const signature = P256.sign({
      payload: options.payload ?? digest,
      privateKey,
      hash: options.prehash,
    })
    const envelope = { type: 'p256', publicKey, signature, prehash: options.prehash } as const
    return {
      envelope,
      serialized: SignatureEnvelope.serialize(envelope),
      address: OxAddress.fromPublicKey(publicKey),
    }
  }

  it('recovers a P256 signature to the address ox derives from its public key', () => {
    for (const prehash of [false, true]) {
      const { serialized, address } = p256Envelope({ prehash })
      expect(serialized.slice(0, 4)).toBe('0x01')
      expect(recoverVoucherSigner(digest, serialized)).toBe(address.toLowerCase())
    }
  })

  it('rejects a P256 signature over another digest, with another key, high-s, or non-canonical bytes', () => {
    const other = p256Envelope({ prehash: false, payload: digestMainnet(vectorChannelId, 250001n) })
    expect(recoverVoucherSigner(digest, other.serialized)).toBeUndefined()

    const { envelope, serialized } = p256Envelope({ prehash: false })
    const stranger = P256.createKeyPair().publicKey
    expect(
      recoverVoucherSigner(
        digest,
        SignatureEnvelope.serialize({ ...envelope, publicKey: stranger }),
      ),
    ).toBeUndefined()
    const highS = {
      ...envelope,
      signature: { ...envelope.signature, s: p256Order - envelope.signature.s },
    }
    expect(recoverVoucherSigner(digest, SignatureEnvelope.serialize(highS))).toBeUndefined()
    expect(recoverVoucherSigner(digest, `${serialized}00`)).toBeUndefined()
    expect(
      recoverVoucherSigner(digest, SignatureEnvelope.serialize(envelope, { magic: true })),
    ).toBeUndefined()
    const prehashed = p256Envelope({ prehash: true }).serialized
    expect(recoverVoucherSigner(digest, prehashed)).toBeDefined()
    expect(recoverVoucherSigner(digest, withLastByte(prehashed, '02'))).toBeUndefined()
  })

  it('recovers a WebAuthn signature to the address of its embedded key and rejects it for another digest', () => {
    const { privateKey, publicKey } = P256.createKeyPair()
    const { metadata, payload } = WebAuthnP256.getSignPayload({
      challenge: digest,
      origin: 'https://payer.example',
      rpId: 'payer.example',
    })
    const signature = P256.sign({ payload, privateKey, hash: true })
    const serialized = SignatureEnvelope.serialize({
      type: 'webAuthn',
      metadata,
      publicKey,
      signature,
    })
    expect(serialized.slice(0, 4)).toBe('0x02')
    expect(recoverVoucherSigner(digest, serialized)).toBe(
      OxAddress.fromPublicKey(publicKey).toLowerCase(),
    )
    expect(recoverVoucherSigner(digestMainnet(vectorChannelId, 1n), serialized)).toBeUndefined()
    const upperDigest: Hex = `0x${digest.slice(2).toUpperCase()}`
    expect(recoverVoucherSigner(upperDigest, serialized)).toBe(
      OxAddress.fromPublicKey(publicKey).toLowerCase(),
    )
  })
})
