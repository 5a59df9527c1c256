/**
 * Session recovery: a client that lost its local channel state finds its open channel and
 * continues on it, instead of opening a new one and waiting out a forced close for the old
 * deposit (protocol.md §2.9, as mppx 0.11's session manager does it with `bootstrap: true`).
 *
 *   HEAD <priced URL>, Accept-Payment: tempo/charge   → 402, the recovery challenge (gate/offers.ts)
 *   HEAD <priced URL>, Authorization: Payment <proof> → 204, Payment-Session: <channelId>,
 *                                                        Payment-Session-Snapshot: <snapshot>
 *
 * The proof shows which account the client is (session/recovery-proof.ts); the ledger's payer
 * index names that account's channels (most recently used first); the first one a client could
 * continue on under this gateway's terms is shown (session/snapshot.ts). With none, the answer is
 * the same `204` without the two headers, and the client opens a new channel. The answer is
 * `Cache-Control: no-store`, is never forwarded and charges nothing.
 *
 * Why no single-use claim on the proof (a charge credential's proof would need one): a recovery
 * proof buys nothing. Replayed within its challenge's lifetime it shows the same payer's channel
 * again — figures the payer's own vouchers already fix, and a voucher signature only the payee
 * can redeem — so a replay gains its sender nothing a ledger write would have to prevent.
 */
import type { LedgerPort } from '../ledger/port.js'
import type { ChallengeIssuer } from '../pricing/challenges.js'
import type { Route } from '../pricing/route-table.js'
import type { Terms } from '../pricing/terms.js'
import type { Credential } from '../protocol/credential.js'
import { encodeSessionSnapshot } from '../protocol/session-snapshot.js'
import { proofSigner } from '../session/recovery-proof.js'
import { isRecoverable, snapshotOf } from '../session/snapshot.js'
import type { Answer } from './answer.js'

/** How many of a payer's channels are looked at for one that can be continued. */
const candidates = 16

/** Answers a recovery credential for `route` (see the module header). */
export async function recover(options: {
  challenges: ChallengeIssuer
  ledger: LedgerPort
  terms: Terms
  route: Route
  credential: Credential
  now: number
}): Promise<Answer> {
  const { terms, credential } = options
  options.challenges.verify(options.route, credential.challenge, options.now, 'recovery')
  const payer = proofSigner({ credential, chainId: terms.chainId })
  const channels = await options.ledger.channelsOf(payer, candidates)
  const channel = channels.find((record) => isRecoverable(record, terms))
  const headers: Record<string, string> = { 'cache-control': 'no-store' }
  if (channel) {
    // A recovery buys nothing: the next voucher must reach what is spent and held already.
    const snapshot = snapshotOf(channel, channel.spent + channel.reserved)
    headers['payment-session'] = channel.channelId
    headers['payment-session-snapshot'] = encodeSessionSnapshot(snapshot)
  }
  return {
    status: 204,
    headers,
    body: undefined,
    outcome: channel ? 'recovered' : 'recovery-none',
  }
}
