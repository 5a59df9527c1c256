/**
 * Voucher signature checks with a bounded cache of verified signatures.
 *
 * The mppx client re-sends nothing twice, but other clients re-send one voucher on many requests
 * (and retries re-send it too); a verified `(channel, amount, signature)` triple is remembered so
 * that only the first costs an ECDSA recovery. The cache holds recovered signers, never a decision:
 * monotonicity, deposit and headroom are always decided by the ledger.
 */
import type { Address, Hex } from 'viem'
import { GatewayError } from '../errors.js'
import type { Descriptor } from '../ledger/port.js'
import { voucherSigner } from './channel-id.js'
import { createVoucherDigester, recoverVoucherSigner } from './voucher-signature.js'

export type VoucherVerifier = {
  /** The signer of a voucher, or undefined when the signature is not a valid one. */
  signerOf(channelId: Hex, cumulative: bigint, signature: Hex): Address | undefined
}

export function createVoucherVerifier(options: {
  chainId: number
  escrow: Address
  cacheSize?: number
}): VoucherVerifier {
  const digest = createVoucherDigester({ chainId: options.chainId, escrow: options.escrow })
  const limit = options.cacheSize ?? 10_000
  const cache = new Map<string, Address>()
  return {
    signerOf(channelId, cumulative, signature) {
      const key = `${channelId}:${cumulative}:${signature}`
      const cached = cache.get(key)
      if (cached) return cached
      const signer = recoverVoucherSigner(digest(channelId, cumulative), signature)
      if (signer) {
        if (cache.size >= limit) cache.delete(cache.keys().next().value!)
        cache.set(key, signer)
      }
      return signer
    },
  }
}

/**
 * Throws unless the voucher was signed by the channel's signer: `invalid-signature` when the bytes
 * are no valid signature at all, `signer-mismatch` when a valid signature is someone else's.
 */
export function assertVoucherSignature(options: {
  verifier: VoucherVerifier
  channelId: Hex
  descriptor: Descriptor
  cumulative: bigint
  signature: Hex
}): void {
  const signer = options.verifier.signerOf(options.channelId, options.cumulative, options.signature)
  if (!signer) throw new GatewayError('invalid-signature', 'The voucher signature is not valid.')
  const expected = voucherSigner(options.descriptor)
  if (signer.toLowerCase() !== expected.toLowerCase()) {
    throw new GatewayError('signer-mismatch', 'The voucher is not signed by the channel signer.', {
      details: { expectedSigner: expected },
    })
  }
}
