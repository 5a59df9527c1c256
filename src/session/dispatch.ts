/**
 * The session step of a priced request: check the echoed challenge, read the session payload, and
 * run its action. Every action ends in the same shape, a {@link SessionOutcome}: the channel's
 * figures after the action, the voucher the credential presented, and — for a request with content
 * to pay for — the reservation its price is held in until the upstream has answered.
 *
 * Which requests are "management" follows mppx: `topUp` and `close` always; `open` and `voucher`
 * when the request carries no content (gate/request.ts `isManagementRequest`).
 *
 * Why every content request reserves (also under `charge: always`): the value becomes spent only
 * in the step that decides the answer (gate/charge.ts). A reservation whose outcome is lost (Redis
 * timed out) expires and charges nothing, so a request that was refused or never forwarded is
 * never charged — whichever charge policy its route has.
 */
import type { Hex } from 'viem'
import type { ChannelSnapshot } from '../ledger/port.js'
import type { ChallengeIssuer } from '../pricing/challenges.js'
import type { Route } from '../pricing/route-table.js'
import type { Credential } from '../protocol/credential.js'
import type { Reservation, VoucherUse } from './authorize.js'
import { closeChannel } from './close.js'
import type { SessionContext } from './context.js'
import { openChannel } from './open.js'
import { parseSessionPayload, type SessionPayload } from './payload.js'
import { topUpChannel } from './top-up.js'
import { payWithVoucher } from './voucher.js'

export type SessionOutcome = {
  readonly action: SessionPayload['action']
  readonly channelId: Hex
  readonly challengeId: string
  /** The request ends here with `204` and a receipt; nothing is forwarded. */
  readonly management: boolean
  /** The channel's ledger figures after the action. */
  readonly snapshot: ChannelSnapshot
  /**
   * The cumulative amount of the voucher this credential presented (for `close`: the voucher the
   * close transaction carried). A receipt confirms this amount, never more: mppx refuses a receipt
   * above what it signed itself.
   */
  readonly voucherAmount: bigint | undefined
  /** For a content request: the price held until the upstream has answered. */
  readonly reservation: Reservation | undefined
  /** The transaction of an on-chain action (open, topUp, close). */
  readonly txHash: Hex | undefined
}

export async function handleCredential(options: {
  session: SessionContext
  challenges: ChallengeIssuer
  route: Route
  credential: Credential
  /** The request carries no content to pay for. */
  management: boolean
  /** Asked before a content request's price is reserved (see VoucherUse.admit). */
  admit?: VoucherUse['admit']
  now: number
}): Promise<SessionOutcome> {
  const { session, route, credential, management } = options
  options.challenges.verify(route, credential.challenge, options.now)
  const payload = parseSessionPayload(credential.payload)
  const source = credential.source
  const use: VoucherUse = management
    ? { amount: 0n, mode: 'none' }
    : {
        amount: route.price ?? 0n,
        // A flat price is charged at once and refunded if the answer is not served (one ledger
        // step for a served answer); a metered one is reserved until the answer names its price.
        mode: route.metered ? 'reserve' : 'hold',
        admit: options.admit,
      }
  const base = {
    action: payload.action,
    channelId: payload.channelId,
    challengeId: credential.challenge.id,
  }

  switch (payload.action) {
    case 'open': {
      const opened = await openChannel(session, { payload, use, source })
      return {
        ...base,
        management,
        snapshot: opened.snapshot,
        voucherAmount: payload.cumulativeAmount,
        reservation: opened.reservation,
        txHash: opened.txHash,
      }
    }
    case 'voucher': {
      const authorized = await payWithVoucher(session, { payload, use, source })
      return {
        ...base,
        management,
        snapshot: authorized.snapshot,
        voucherAmount: payload.cumulativeAmount,
        reservation: authorized.reservation,
        txHash: undefined,
      }
    }
    case 'topUp': {
      const { snapshot, txHash } = await topUpChannel(session, { payload, source })
      return {
        ...base,
        management: true,
        snapshot,
        voucherAmount: undefined,
        reservation: undefined,
        txHash,
      }
    }
    case 'close': {
      const closed = await closeChannel(session, { payload, source })
      return {
        ...base,
        management: true,
        snapshot: closed.snapshot,
        voucherAmount: closed.voucherAmount,
        reservation: undefined,
        txHash: closed.txHash,
      }
    }
  }
}
