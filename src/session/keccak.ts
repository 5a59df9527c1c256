/**
 * keccak-256 for the voucher hot path. A new voucher costs three keccaks (the struct hash, the
 * EIP-712 digest and the signer's address); the pure-JS implementation is the largest CPU item of
 * a paid request after the ECDSA recovery itself, so the native `keccak` package (prebuilt N-API
 * binaries, loaded through `keccak/bindings` so a missing binary is noticed) is used when it loads,
 * and ox's pure-JS keccak otherwise. Both give identical output (tested).
 */
import { optionalBinding } from '../native-binding.js'
import { Hash } from 'ox'

type NativeKeccak = (algorithm: 'keccak256') => {
  update(data: Uint8Array): { digest(): Buffer }
}

const native = optionalBinding<NativeKeccak>('keccak/bindings')

/** Which implementation this process uses. */
export const keccakBackend: 'native' | 'js' = native ? 'native' : 'js'

/** keccak-256 of `data`, as bytes. */
export const keccak256Bytes: (data: Uint8Array) => Uint8Array = native
  ? (data) =>
      native('keccak256')
        // The binding takes Buffers only; this view shares the bytes, it does not copy them.
        .update(
          Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
        )
        .digest()
  : (data) => Hash.keccak256(data, { as: 'Bytes' })

/** The pure-JS implementation, for tests comparing both. */
export const keccak256BytesJs = (data: Uint8Array): Uint8Array =>
  Hash.keccak256(data, { as: 'Bytes' })
