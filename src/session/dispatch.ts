/**
 * The session step of a priced request: check the echoed challenge, read the session payload,
 * and run its action. Returns what the rest of the pipeline needs: either a paid content request
 * to forward (with the value reserved or charged), or a finished management answer (204).
 *
 * Which requests are "management" follows mppx: `topUp` and `close` always; `open` and `voucher`
 * when the request carries no content — `HEAD`, or a `POST` without query and without a body.
 */
import type { Hex } from 'viem'
import type { ChannelSnapshot } from '../ledger/port.js'
import type { ChallengeIssuer } from '../pricing/challenges.js'
import type { Route } from '../pricing/route-table.js'
import type { Credential } from '../protocol/credential.js'
import type { Authorized, VoucherUse } from './authorize.js'
import { closeChannel } from './close.js'
import type { SessionContext } from './context.js'
import { openChannel } from './open.js'
import { parseSessionPayload } from './payload.js'
import { topUpChannel } from './top-up.js'
import { payWithVoucher } from './voucher.js'

export type PaidContent = {
  readonly kind: 'content'
  readonly action: 'open' | 'voucher'
  readonly channelId: Hex
  readonly challengeId: string
  readonly authorized: Authorized
  readonly txHash: Hex | undefined
}

export type ManagementDone = {
  readonly kind: 'management'
  readonly action: 'open' | 'voucher' | 'topUp' | 'close'
  readonly channelId: Hex
  readonly challengeId: string
  readonly snapshot: ChannelSnapshot
  readonly txHash: Hex | undefined
}

export type Payment = PaidContent | ManagementDone

/** The shape of the HTTP request a credential arrived with, as far as payment cares. */
export type RequestShape = {
  readonly method: string
  readonly hasQuery: boolean
  readonly hasBody: boolean
}

/** True when a request carries no content to pay for (mppx's management requests). */
export function isManagementRequest(request: RequestShape): boolean {
  if (request.method === 'HEAD') return true
  return request.method === 'POST' && !request.hasQuery && !request.hasBody
}

export async function handleCredential(options: {
  session: SessionContext
  challenges: ChallengeIssuer
  route: Route
  credential: Credential
  request: RequestShape
  now: number
}): Promise<Payment> {
  const { session, route, credential } = options
  options.challenges.verify(route, credential.challenge, options.now)
  const payload = parseSessionPayload(credential.payload)
  const challengeId = credential.challenge.id
  const source = credential.source
  const management = isManagementRequest(options.request)
  const price = route.price ?? 0n
  const use: VoucherUse = management
    ? { amount: 0n, mode: 'none' }
    : { amount: price, mode: route.charge === 'always' ? 'commit' : 'reserve' }

  switch (payload.action) {
    case 'open': {
      const opened = await openChannel(session, { payload, use, source })
      return management
        ? {
            kind: 'management',
            action: 'open',
            channelId: payload.channelId,
            challengeId,
            snapshot: opened.snapshot,
            txHash: opened.txHash,
          }
        : {
            kind: 'content',
            action: 'open',
            channelId: payload.channelId,
            challengeId,
            authorized: opened,
            txHash: opened.txHash,
          }
    }
    case 'voucher': {
      const authorized = await payWithVoucher(session, { payload, use, source })
      return management
        ? {
            kind: 'management',
            action: 'voucher',
            channelId: payload.channelId,
            challengeId,
            snapshot: authorized.snapshot,
            txHash: undefined,
          }
        : {
            kind: 'content',
            action: 'voucher',
            channelId: payload.channelId,
            challengeId,
            authorized,
            txHash: undefined,
          }
    }
    case 'topUp': {
      const { snapshot, txHash } = await topUpChannel(session, { payload, source })
      return {
        kind: 'management',
        action: 'topUp',
        channelId: payload.channelId,
        challengeId,
        snapshot,
        txHash,
      }
    }
    case 'close': {
      const { snapshot, txHash } = await closeChannel(session, { payload, source })
      return {
        kind: 'management',
        action: 'close',
        channelId: payload.channelId,
        challengeId,
        snapshot,
        txHash,
      }
    }
  }
}
