/**
 * Voucher signature hot path: the EIP-712 digest a TIP-1034 voucher is signed over, and the
 * address behind a TIP-1020 signature of that digest. Every paid request goes through both, so
 * they are written for speed (precomputed domain, reused buffers, libsecp256k1 when it loads).
 *
 * Invariants:
 * - digest = keccak256(0x1901 ‖ domainSeparator ‖ keccak256(voucherTypehash ‖ channelId ‖
 *   uint256(cumulativeAmount))), byte-identical to ox `Channel.getVoucherSignPayload` and to the
 *   precompile's `getVoucherDigest`; amounts outside the precompile's uint96 throw instead of
 *   being truncated.
 * - `recoverVoucherSigner` returns an address only for a canonical TIP-1020 primitive signature
 *   that verifies: secp256k1 `r‖s‖v` (exactly 65 bytes, v ∈ {27, 28}, 1 ≤ r < n, 1 ≤ s ≤ n/2),
 *   P256 (`0x01`) or WebAuthn (`0x02`) envelopes that re-serialize to the same bytes. Anything
 *   else — keychain, EIP-2098 compact, high-s, malformed hex — is `undefined`, never a throw.
 * - Addresses come back lowercase (ox's convention), never EIP-55 checksummed: compare them
 *   lowercased.
 * - The secp256k1 backend (libsecp256k1 through N-API, or @noble/curves when the prebuilt binary
 *   does not load) changes the speed, never the result: range checks happen here, before either.
 */
import { optionalBinding } from '../native-binding.js'
import { keccak256Bytes } from './keccak.js'
import { Secp256k1 } from 'ox'
import { MultisigConfig, SignatureEnvelope } from 'ox/tempo'
import { encodeAbiParameters, keccak256, stringToHex } from 'viem'
import type { Address, Hex } from 'viem'

/** `keccak256("Voucher(bytes32 channelId,uint96 cumulativeAmount)")`, the v2 voucher type. */
export const voucherTypehash: Hex = keccak256(
  stringToHex('Voucher(bytes32 channelId,uint96 cumulativeAmount)'),
)

/** `keccak256` of the EIP-712 domain type the channel reserve uses. */
export const voucherDomainTypehash: Hex = keccak256(
  stringToHex('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'),
)

/** Computes a voucher's EIP-712 digest; see {@link createVoucherDigester}. */
export type VoucherDigester = (channelId: Hex, cumulativeAmount: bigint) => Hex

/** Which secp256k1 implementation recovers signers: native libsecp256k1 or pure-JS noble. */
export type Secp256k1Backend = 'libsecp256k1' | 'noble'

/** Recovers the signer of a voucher digest; see {@link recoverVoucherSigner}. */
export type VoucherSignerRecovery = (digest: Hex, signature: Hex) => Address | undefined

type Libsecp256k1 = {
  ecdsaRecover: (
    signature: Uint8Array,
    recoveryId: number,
    message: Uint8Array,
    compressed: false,
    output: Uint8Array,
  ) => Uint8Array
}

const maxUint96 = (1n << 96n) - 1n
const low64Mask = (1n << 64n) - 1n
const bytes32Pattern = /^0x[0-9a-fA-F]{64}$/
const addressPattern = /^0x[0-9a-fA-F]{40}$/
const secp256k1SignaturePattern = /^0x[0-9a-fA-F]{130}$/
const envelopePattern = /^0x0[12](?:[0-9a-fA-F]{2})+$/
// Fixed-width lowercase hex compares like the number it encodes, so range checks on r and s
// need no bigint parsing.
const zeroWord = '0'.repeat(64)
const curveOrder = 'fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141'
const halfCurveOrder = '7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0'

/**
 * Loads libsecp256k1 from the `secp256k1` package's N-API binding, or `undefined` when no
 * prebuilt binary matches this platform. We require `secp256k1/bindings` rather than the package
 * root because the root silently falls back to `elliptic`; we would rather fall back to noble,
 * which viem and ox already trust.
 */
function loadLibsecp256k1(): Libsecp256k1 | undefined {
  return optionalBinding<Libsecp256k1>('secp256k1/bindings')
}

const libsecp256k1 = loadLibsecp256k1()

/** The secp256k1 backend {@link recoverVoucherSigner} uses on this machine. */
export const secp256k1Backend: Secp256k1Backend = libsecp256k1 ? 'libsecp256k1' : 'noble'

/**
 * EIP-712 domain separator of the TIP-1034 channel reserve: name "TIP20 Channel Reserve",
 * version "1", the chain id and the escrow as verifying contract.
 *
 * @throws {TypeError} when `chainId` is not a non-negative safe integer or `escrow` not an address.
 */
export function voucherDomainSeparator(options: { chainId: number; escrow: Address }): Hex {
  const { chainId, escrow } = options
  if (!Number.isSafeInteger(chainId) || chainId < 0)
    throw new TypeError(`chainId must be a non-negative safe integer, got ${String(chainId)}`)
  if (!addressPattern.test(escrow)) throw new TypeError(`escrow is not an address: ${escrow}`)
  return keccak256(
    encodeAbiParameters(
      [
        { type: 'bytes32' },
        { type: 'bytes32' },
        { type: 'bytes32' },
        { type: 'uint256' },
        { type: 'address' },
      ],
      [
        voucherDomainTypehash,
        keccak256(stringToHex('TIP20 Channel Reserve')),
        keccak256(stringToHex('1')),
        BigInt(chainId),
        escrow,
      ],
    ),
  )
}

/**
 * Builds the voucher digester for one chain and escrow. The domain separator and typehash are
 * computed once; each call fills two reused buffers and hashes them, so a digest costs two
 * keccak256 calls and no ABI encoding.
 *
 * The returned function throws a `TypeError` for a `channelId` that is not 32-byte hex and a
 * `RangeError` for a `cumulativeAmount` outside 0..2^96−1: the precompile's type is uint96, and a
 * digest over a wider value could never be settled.
 *
 * @throws {TypeError} for an invalid `chainId` or `escrow` (see {@link voucherDomainSeparator}).
 */
export function createVoucherDigester(options: {
  chainId: number
  escrow: Address
}): VoucherDigester {
  const message = Buffer.alloc(2 + 32 + 32)
  message[0] = 0x19
  message[1] = 0x01
  message.write(voucherDomainSeparator(options).slice(2), 2, 'hex')
  // typehash ‖ channelId ‖ uint256(cumulativeAmount); bytes 64..84 stay zero since amounts fit 96 bits.
  const struct = Buffer.alloc(32 * 3)
  struct.write(voucherTypehash.slice(2), 0, 'hex')

  return (channelId, cumulativeAmount) => {
    if (typeof channelId !== 'string' || !bytes32Pattern.test(channelId))
      throw new TypeError(`channelId is not 32-byte hex: ${String(channelId)}`)
    if (
      typeof cumulativeAmount !== 'bigint' ||
      cumulativeAmount < 0n ||
      cumulativeAmount > maxUint96
    )
      throw new RangeError(
        `cumulativeAmount must be a bigint in 0..2^96-1, got ${String(cumulativeAmount)}`,
      )
    struct.write(channelId.slice(2), 32, 'hex')
    struct.writeUInt32BE(Number(cumulativeAmount >> 64n), 84)
    struct.writeBigUInt64BE(cumulativeAmount & low64Mask, 88)
    message.set(keccak256Bytes(struct), 34)
    return toHex(keccak256Bytes(message))
  }
}

/**
 * Builds a signer recovery bound to one secp256k1 backend. Production code uses
 * {@link recoverVoucherSigner}; this exists so tests and the benchmark can pin a backend.
 *
 * @throws {Error} when `libsecp256k1` is requested but its binary did not load on this platform.
 */
export function createVoucherSignerRecovery(options: {
  backend: Secp256k1Backend
}): VoucherSignerRecovery {
  const recoverPublicKey = secp256k1Recovery(options.backend)
  return (digest, signature) => {
    if (typeof digest !== 'string' || !bytes32Pattern.test(digest)) return undefined
    if (typeof signature !== 'string') return undefined
    if (signature.length === 2 + 65 * 2)
      return recoverSecp256k1({ digest, signature, recoverPublicKey })
    return recoverEnvelope(digest, signature)
  }
}

const recoverWithDefaultBackend = createVoucherSignerRecovery({ backend: secp256k1Backend })

/**
 * Returns the address that signed a voucher digest, or `undefined` when the signature is not an
 * accepted, canonical TIP-1020 primitive signature that verifies. Never throws.
 *
 * - 65 bytes: secp256k1 `r‖s‖v`, v ∈ {27, 28}, low-s; the signer is recovered.
 * - `0x01` + 129 bytes (P256) or `0x02` + data (WebAuthn): the envelope embeds the public key, the
 *   signature is verified against it and the address derived from it (ox `Address.fromPublicKey`).
 * - Keychain (`0x03`/`0x04`), multisig, EIP-2098 64-byte compact and anything else: `undefined`.
 *
 * @param digest - The voucher digest from {@link createVoucherDigester}.
 * @param signature - The signature exactly as the client sent it.
 * @returns The signer's lowercase address, or `undefined`.
 */
export function recoverVoucherSigner(digest: Hex, signature: Hex): Address | undefined {
  return recoverWithDefaultBackend(digest, signature)
}

type RecoverPublicKey = (
  rs: Uint8Array,
  recoveryId: number,
  digest: Uint8Array,
) => Uint8Array | undefined

function secp256k1Recovery(backend: Secp256k1Backend): RecoverPublicKey {
  switch (backend) {
    case 'libsecp256k1': {
      const native = libsecp256k1
      if (!native) throw new Error('libsecp256k1 did not load on this platform')
      // Safe to reuse: the caller hashes the key synchronously before the next recovery.
      const output = new Uint8Array(65)
      return (rs, recoveryId, digest) => {
        try {
          return native.ecdsaRecover(rs, recoveryId, digest, false, output)
        } catch {
          return undefined
        }
      }
    }
    case 'noble':
      return (rs, recoveryId, digest) => {
        try {
          return Secp256k1.noble.Signature.fromCompact(rs)
            .addRecoveryBit(recoveryId)
            .recoverPublicKey(digest)
            .toRawBytes(false)
        } catch {
          return undefined
        }
      }
  }
}

function recoverSecp256k1(options: {
  digest: Hex
  signature: Hex
  recoverPublicKey: RecoverPublicKey
}): Address | undefined {
  const { digest, signature, recoverPublicKey } = options
  if (!secp256k1SignaturePattern.test(signature)) return undefined
  const hex = signature.toLowerCase()
  const r = hex.slice(2, 66)
  const s = hex.slice(66, 130)
  const v = hex.slice(130)
  if (v !== '1b' && v !== '1c') return undefined
  if (r === zeroWord || r >= curveOrder) return undefined
  // Low-s only: (r, n − s) verifies too, and accepting both would make one voucher two byte strings.
  if (s === zeroWord || s > halfCurveOrder) return undefined
  const publicKey = recoverPublicKey(
    Buffer.from(hex.slice(2, 130), 'hex'),
    v === '1b' ? 0 : 1,
    Buffer.from(digest.slice(2), 'hex'),
  )
  if (publicKey?.length !== 65) return undefined
  return toHex(keccak256Bytes(publicKey.subarray(1)).subarray(12))
}

function recoverEnvelope(digest: Hex, signature: Hex): Address | undefined {
  // The size cap bounds ox's WebAuthn parsing, which scans every split point of the data.
  if (signature.length > 2 + MultisigConfig.maxOwnerSignatureBytes * 2) return undefined
  if (!envelopePattern.test(signature)) return undefined
  // ox's WebAuthn check compares the challenge with the payload as a lowercase hex string.
  const payload = digest.toLowerCase() as Hex
  try {
    const envelope = SignatureEnvelope.deserialize(signature)
    if (envelope.type !== 'p256' && envelope.type !== 'webAuthn') return undefined
    // Canonical bytes only: ox strips a magic suffix and reads any non-zero prehash byte as true.
    if (SignatureEnvelope.serialize(envelope).toLowerCase() !== signature.toLowerCase())
      return undefined
    const address = SignatureEnvelope.extractAddress({ payload, signature: envelope })
    return SignatureEnvelope.verify(envelope, { payload, address })
      ? (address.toLowerCase() as Address)
      : undefined
  } catch {
    return undefined
  }
}

function toHex(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`
}
