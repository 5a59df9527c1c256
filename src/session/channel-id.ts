/**
 * TIP-1034 channel identity: `keccak256(abi.encode(payer, payee, operator, token, salt,
 * authorizedSigner, expiringNonceHash, escrow, chainId))`.
 *
 * A credential's descriptor is authentic when it hashes to the channel id the gateway knows, so
 * the voucher signer can be taken from the descriptor without a ledger read.
 */
import { encodeAbiParameters, keccak256, zeroAddress, type Address, type Hex } from 'viem'
import type { Descriptor } from '../ledger/port.js'

const parameters = [
  { type: 'address' },
  { type: 'address' },
  { type: 'address' },
  { type: 'address' },
  { type: 'bytes32' },
  { type: 'address' },
  { type: 'bytes32' },
  { type: 'address' },
  { type: 'uint256' },
] as const

/** The channel id of a descriptor on a given escrow and chain (lowercase hex). */
export function channelIdOf(options: {
  descriptor: Descriptor
  escrow: Address
  chainId: number
}): Hex {
  const d = options.descriptor
  return keccak256(
    encodeAbiParameters(parameters, [
      d.payer,
      d.payee,
      d.operator,
      d.token,
      d.salt,
      d.authorizedSigner,
      d.expiringNonceHash,
      options.escrow,
      BigInt(options.chainId),
    ]),
  )
}

/** The address whose signature a voucher needs: the authorized signer, else the payer. */
export function voucherSigner(descriptor: Descriptor): Address {
  return descriptor.authorizedSigner.toLowerCase() === zeroAddress
    ? descriptor.payer
    : descriptor.authorizedSigner
}

/** Whether two descriptors name the same channel (addresses and hashes compared case-blind). */
export function sameDescriptor(a: Descriptor, b: Descriptor): boolean {
  return (Object.keys(a) as (keyof Descriptor)[]).every(
    (k) => a[k].toLowerCase() === b[k].toLowerCase(),
  )
}
