/**
 * The attribution memo that binds a one-shot transfer to the challenge it pays (mppx 0.11, which
 * requires it whenever the server names no memo of its own, as this gateway never does).
 *
 * A memo is the `bytes32` of a TIP-20 `transferWithMemo`:
 *
 *   bytes 0..3    keccak256("mpp")[0..3]          the MPP tag
 *   byte  4       0x01                            the layout version
 *   bytes 5..14   keccak256(realm)[0..9]          the server: this gateway's realm
 *   bytes 15..24  keccak256(clientId)[0..9] or 0  the client (not checked)
 *   bytes 25..31  keccak256(challengeId)[0..6]    the challenge this transfer pays
 *
 * Why it matters: a transfer whose memo names another challenge (or none) could be any payment the
 * payer ever made to the payee; binding it to the challenge makes one transfer pay for exactly one
 * challenge, and a hash seen on chain cannot be presented by someone else for their own request.
 * Pure functions; nothing here reads the chain.
 */
import { keccak256, stringToBytes, type Hex } from 'viem'

const tag = keccak256(stringToBytes('mpp')).slice(2, 10)
const version = '01'

/** The first `bytes` bytes of keccak256(`text`), as lower-case hex without `0x`. */
function fingerprint(text: string, bytes: number): string {
  return keccak256(stringToBytes(text)).slice(2, 2 + bytes * 2)
}

/** Whether `memo` is an MPP attribution memo for `realm` bound to `challengeId`. */
export function isBoundMemo(memo: Hex, binding: { realm: string; challengeId: string }): boolean {
  const hex = memo.toLowerCase()
  if (!/^0x[0-9a-f]{64}$/.test(hex)) return false
  const body = hex.slice(2)
  return (
    body.slice(0, 8) === tag &&
    body.slice(8, 10) === version &&
    body.slice(10, 30) === fingerprint(binding.realm, 10) &&
    body.slice(50, 64) === fingerprint(binding.challengeId, 7)
  )
}
