/**
 * Whether a channel descriptor is one this gateway accepts: it must hash to the claimed channel id
 * on this chain and escrow, pay this gateway's payee in its currency, and name its operator.
 *
 * Hashing a descriptor costs an ABI encoding and a keccak (≈ 60 µs, the largest single cost of a
 * paid request that re-sends a voucher), and a channel's descriptor never changes, so a bounded
 * cache remembers descriptors already proven to hash to their channel id. The cache only ever
 * skips work whose answer is fixed; it never admits a descriptor that was not checked.
 */
import type { Hex } from 'viem'
import { GatewayError } from '../errors.js'
import type { Descriptor } from '../ledger/port.js'
import { channelIdOf } from './channel-id.js'
import type { Terms } from '../pricing/terms.js'

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()

/** Checks descriptors against channel ids and terms, remembering those already proven. */
export type ChannelTermsCheck = (channelId: Hex, descriptor: Descriptor) => void

const descriptorKey = (channelId: Hex, d: Descriptor) =>
  `${channelId}|${d.payer}|${d.payee}|${d.operator}|${d.token}|${d.salt}|${d.authorizedSigner}|${d.expiringNonceHash}`.toLowerCase()

export function createChannelTermsCheck(terms: Terms, cacheSize = 10_000): ChannelTermsCheck {
  const proven = new Set<string>()
  return (channelId, descriptor) => {
    const key = descriptorKey(channelId, descriptor)
    if (proven.has(key)) return
    assertChannelTerms(terms, channelId, descriptor)
    if (proven.size >= cacheSize) proven.delete(proven.values().next().value!)
    proven.add(key)
  }
}

export function assertChannelTerms(terms: Terms, channelId: Hex, descriptor: Descriptor): void {
  const computed = channelIdOf({ descriptor, escrow: terms.escrow, chainId: terms.chainId })
  if (computed !== channelId.toLowerCase()) {
    throw new GatewayError(
      'verification-failed',
      'The channel descriptor does not match the channel id on this chain and escrow.',
    )
  }
  if (!same(descriptor.payee, terms.recipient)) {
    throw new GatewayError('verification-failed', 'The channel does not pay this recipient.')
  }
  if (!same(descriptor.token, terms.currency)) {
    throw new GatewayError('verification-failed', 'The channel is not in this currency.')
  }
  if (!same(descriptor.operator, terms.operator)) {
    throw new GatewayError('verification-failed', 'The channel names another operator.')
  }
}
