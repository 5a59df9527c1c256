/**
 * The credential's `source` (a `did:pkh:eip155:<chainId>:<address>` DID): when a client states
 * one, it must be the channel's payer or authorized signer on this chain, as mppx requires. The
 * source is a claim, never a key: the voucher signature is what authorizes spending.
 */
import { GatewayError } from '../errors.js'
import type { Descriptor } from '../ledger/port.js'

export function assertSource(options: {
  source: string | undefined
  chainId: number
  descriptor: Descriptor
}): void {
  if (options.source === undefined) return
  const prefix = `did:pkh:eip155:${options.chainId}:`
  const address = options.source.startsWith(prefix)
    ? options.source.slice(prefix.length).toLowerCase()
    : undefined
  const { payer, authorizedSigner } = options.descriptor
  if (address !== payer.toLowerCase() && address !== authorizedSigner.toLowerCase()) {
    throw new GatewayError(
      'verification-failed',
      'The credential source is not the channel payer or signer.',
    )
  }
}
