/**
 * Session snapshots in challenges (`methodDetails.sessionSnapshot`, protocol.md §2.9): the few
 * answers that show a client where its channel stands so it can continue without guessing.
 *
 *  - `insufficient-balance`: a client that fell behind the voucher the gateway accepted (it lost
 *    an answer it was charged for) is told `requiredCumulative`, the voucher that pays this request
 *    now; mppx 0.11 signs it and retries at once, instead of being refused on every request until
 *    it closes (its own retries only climb one price per attempt).
 *  - `close-voucher-outdated`: mppx signs its close at the `acceptedCumulative` of the last
 *    challenge it saw. When that challenge carried a snapshot that is outdated by now (the retry it
 *    asked for raised the voucher), the close is refused with a fresh snapshot, and mppx signs its
 *    close again at the accepted amount — otherwise the channel would close correctly but mppx
 *    would reject the receipt, whose amount is the voucher the close used. Only a close signed on
 *    a snapshot challenge is refused: a client that never saw a snapshot keeps the rule that a
 *    close is never refused for a low voucher (session/close.ts).
 *
 * Both name a channel whose voucher signature the gateway has verified for this request, and they
 * are rare, so ordinary challenges stay constant and cost one HMAC.
 */
import type { Hex } from 'viem'
import { GatewayError } from '../errors.js'
import type { ChallengeIssuer, IssuedChallenge } from '../pricing/challenges.js'
import type { Route } from '../pricing/route-table.js'
import type { Credential } from '../protocol/credential.js'
import type { SessionContext } from '../session/context.js'
import { knownChannel } from '../session/known-channel.js'
import { parseSessionPayload } from '../session/payload.js'
import { isRecoverable, snapshotOf } from '../session/snapshot.js'
import { assertVoucherSignature } from '../session/voucher-check.js'

/** The failures whose answer carries the channel's snapshot, and what the voucher must add. */
const snapshotFailures = {
  'insufficient-balance': 'price',
  'close-voucher-outdated': 'nothing',
} as const

/**
 * The session challenge with the credential's channel as its snapshot, for a failure that calls
 * for one (see the module header); `undefined` otherwise, or when the channel is not one a client
 * could continue on.
 */
export async function snapshotChallenge(options: {
  failure: GatewayError
  route: Route
  credential: Credential | undefined
  session: SessionContext
  challenges: ChallengeIssuer
  now: () => number
}): Promise<(() => IssuedChallenge) | undefined> {
  const { route, session } = options
  const adds = (snapshotFailures as Record<string, 'price' | 'nothing' | undefined>)[
    options.failure.code
  ]
  if (adds === undefined || route.price === undefined) return undefined
  try {
    const payload = options.credential?.payload as { channelId?: unknown } | undefined
    const channelId = payload?.channelId
    if (typeof channelId !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(channelId)) return
    const record = await session.ledger.get(channelId as Hex)
    if (!record || !isRecoverable(record, session.terms)) return
    const required = record.spent + record.reserved + (adds === 'price' ? route.price : 0n)
    const snapshot = snapshotOf(record, required)
    return () => options.challenges.issue(route, options.now(), { snapshot })
  } catch {
    // Without a snapshot the answer is the ordinary one; the client pays a fresh challenge.
    return undefined
  }
}

/**
 * Throws `close-voucher-outdated` for a close signed on a snapshot challenge below the voucher the
 * gateway has accepted since (see the module header). Checks the challenge and the close voucher's
 * signature first, so only the channel's payer is ever shown its snapshot.
 */
export async function refuseOutdatedClose(options: {
  route: Route
  credential: Credential
  session: SessionContext
  challenges: ChallengeIssuer
  now: number
}): Promise<void> {
  const { credential, session } = options
  const details = (credential.challenge.requestJson as { methodDetails?: unknown }).methodDetails
  const fromSnapshot =
    typeof details === 'object' && details !== null && Object.hasOwn(details, 'sessionSnapshot')
  if (!fromSnapshot || (credential.payload as { action?: unknown }).action !== 'close') return
  options.challenges.verify(options.route, credential.challenge, options.now)
  const payload = parseSessionPayload(credential.payload)
  if (payload.action !== 'close') return
  const known = await knownChannel(session, {
    channelId: payload.channelId,
    descriptor: payload.descriptor,
    source: credential.source,
  })
  assertVoucherSignature({
    verifier: session.vouchers,
    channelId: payload.channelId,
    descriptor: known.descriptor,
    cumulative: payload.cumulativeAmount,
    signature: payload.signature,
  })
  if (payload.cumulativeAmount < known.accepted.cumulative) {
    throw new GatewayError(
      'close-voucher-outdated',
      'The close was signed on an outdated snapshot; sign it at the accepted amount the fresh challenge names.',
      { details: { acceptedCumulative: known.accepted.cumulative.toString() } },
    )
  }
}
