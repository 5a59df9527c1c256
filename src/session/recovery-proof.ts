/**
 * The proof a client answers a recovery challenge with: who it is, shown by signing, never by
 * paying. The recovery challenge is a zero-amount `tempo/charge` (pricing/challenges.ts); mppx
 * 0.11 answers a zero-amount charge with payload `{type: "proof", signature}` and
 * `source: did:pkh:eip155:<chainId>:<address>`, the signature being EIP-712 over
 *
 *   domain  {name: "MPP", version: "3", chainId}
 *   Proof(address account, string challengeId, string realm)
 *   message {account: <source address>, challengeId: <the challenge id>, realm: <its realm>}
 *
 * (the drafts describe version "1" with `Proof(string challengeId)`; mppx 0.11 binds the account
 * too, so a proof made for one account cannot be replayed for another).
 *
 * Invariants: the proof names exactly the account in `source` on this gateway's chain, and is a
 * canonical TIP-1020 signature by that account (secp256k1 low-s, P256, WebAuthn, as vouchers are;
 * a keychain access-key signature is refused). Failures are `verification-failed` (bad proof) or
 * `malformed-credential` (wrong shape); nothing here reads the chain or the ledger.
 */
import { hashTypedData, isAddress, type Address, type Hex } from 'viem'
import { GatewayError } from '../errors.js'
import type { Credential } from '../protocol/credential.js'
import { recoverVoucherSigner } from './voucher-signature.js'

/** The EIP-712 definition of a recovery proof, as mppx 0.11 signs it. */
export function proofTypedData(options: {
  chainId: number
  account: Address
  challengeId: string
  realm: string
}) {
  return {
    domain: { name: 'MPP', version: '3', chainId: options.chainId },
    types: {
      Proof: [
        { name: 'account', type: 'address' },
        { name: 'challengeId', type: 'string' },
        { name: 'realm', type: 'string' },
      ],
    },
    primaryType: 'Proof',
    message: {
      account: options.account,
      challengeId: options.challengeId,
      realm: options.realm,
    },
  } as const
}

const signaturePattern = /^0x(?:[0-9a-fA-F]{2})+$/

/**
 * The payer a recovery credential proves to be (its `source` address, lower-cased), after
 * checking its proof against the echoed challenge (which the caller has verified already).
 *
 * @throws GatewayError `malformed-credential` or `verification-failed`.
 */
export function proofSigner(options: { credential: Credential; chainId: number }): Address {
  const { credential, chainId } = options
  const payload = credential.payload as Record<string, unknown>
  const signature = payload.signature
  if (payload.type !== 'proof' || typeof signature !== 'string') {
    throw new GatewayError('malformed-credential', 'A recovery credential carries a proof.')
  }
  if (!signaturePattern.test(signature)) {
    throw new GatewayError('malformed-credential', 'The proof signature is not hex.')
  }
  const prefix = `did:pkh:eip155:${chainId}:`
  const claimed = credential.source?.startsWith(prefix)
    ? credential.source.slice(prefix.length)
    : undefined
  if (claimed === undefined || !isAddress(claimed, { strict: false })) {
    throw new GatewayError(
      'verification-failed',
      `A recovery proof needs a source did:pkh:eip155:${chainId}:<address>.`,
    )
  }
  const account = claimed.toLowerCase() as Address
  const digest = hashTypedData(
    proofTypedData({
      chainId,
      account,
      challengeId: credential.challenge.id,
      realm: credential.challenge.realm,
    }),
  )
  if (recoverVoucherSigner(digest, signature as Hex)?.toLowerCase() !== account) {
    throw new GatewayError('verification-failed', 'The proof is not signed by its source.')
  }
  return account
}
