/**
 * The account that signs the gateway's own transactions (`settle`, `close`): viem's local account
 * for the payee key, with transactions signed by libsecp256k1 and hashed by native keccak when
 * both load (session/voucher-signature.ts and session/keccak.ts use the same bindings).
 *
 * Why: viem signs with @noble/curves in JavaScript, about 1 ms of CPU per signature — a third of
 * the budget of a whole settlement (issue 10: ≤ 3 ms of gateway CPU per settlement transaction).
 * libsecp256k1 signs in tens of microseconds. Both implement RFC 6979 deterministic nonces with a
 * low s, so the signed bytes are identical (signer.test.ts checks it). Transactions and raw hashes
 * (`sign`, what chain/escrow-tx.ts signs the gateway's own transactions with) are signed natively;
 * messages and typed data are still signed by viem (the gateway signs none on a hot path).
 */
import { optionalBinding } from '../native-binding.js'
import { bytesToHex, hexToBytes, serializeTransaction, type Hex, type LocalAccount } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { keccak256Bytes } from '../session/keccak.js'

type NativeSigner = {
  ecdsaSign(message: Uint8Array, privateKey: Uint8Array): { signature: Uint8Array; recid: number }
}

const native = optionalBinding<NativeSigner>('secp256k1/bindings')

/** Which implementation signs the gateway's transactions on this machine. */
export const transactionSignerBackend: 'libsecp256k1' | 'noble' = native ? 'libsecp256k1' : 'noble'

/**
 * A local account for `privateKey` whose `sign` and `signTransaction` run on libsecp256k1
 * (viem's own account, unchanged, when the binding does not load or `backend` asks for noble).
 */
export function payeeAccount(
  privateKey: Hex,
  backend: 'libsecp256k1' | 'noble' = transactionSignerBackend,
): LocalAccount {
  const account = privateKeyToAccount(privateKey)
  if (!native || backend === 'noble') return account
  const key = hexToBytes(privateKey)
  /** A 32-byte hash, signed as r ‖ s ‖ v (v = 27 + recovery id): what viem's `sign` returns. */
  const sign: NonNullable<LocalAccount['sign']> = async ({ hash }) => {
    if (!/^0x[0-9a-fA-F]{64}$/.test(hash)) throw new Error('sign: the hash must be 32 bytes')
    // Buffer's native hex codec: viem's `hexToBytes` converts digit by digit in JavaScript.
    const { signature, recid } = native.ecdsaSign(Buffer.from(hash.slice(2), 'hex'), key)
    return `0x${Buffer.from(signature).toString('hex')}${recid ? '1c' : '1b'}`
  }
  const signTransaction: LocalAccount['signTransaction'] = async (transaction, options) => {
    const serializer = options?.serializer ?? serializeTransaction
    // As viem does: an EIP-4844 transaction is signed without its sidecars.
    const signable =
      transaction.type === 'eip4844' ? { ...transaction, sidecars: false as const } : transaction
    const digest = keccak256Bytes(hexToBytes(await serializer(signable)))
    const { signature, recid } = native.ecdsaSign(digest, key)
    return serializer(transaction, {
      r: bytesToHex(signature.subarray(0, 32)),
      s: bytesToHex(signature.subarray(32, 64)),
      v: recid ? 28n : 27n,
      yParity: recid,
    })
  }
  return { ...account, sign, signTransaction }
}
