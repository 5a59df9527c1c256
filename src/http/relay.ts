/**
 * Relaying a request to its upstream and deciding the charge at the charge boundary.
 *
 * For a paid request with a reservation (`charge: on-success`), the charge is decided when the
 * upstream's response head arrives: a served status commits the reservation (the value becomes
 * spent, durably, before our head is written), any other status releases it; a timeout, a refused
 * connection or a client that leaves before that moment releases it too. A receipt is attached
 * only to answers that were paid for: 2xx statuses and statuses the route counts as served.
 * For `charge: always`, the value was already spent when the voucher was accepted.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Hex } from 'viem'
import { GatewayError } from '../errors.js'
import type { ChannelSnapshot, LedgerPort } from '../ledger/port.js'
import type { Route } from '../pricing/route-table.js'
import { encodeReceipt } from '../protocol/receipt.js'
import type { Upstream } from '../upstream/pool.js'
import { forward, type ForwardOutcome } from '../upstream/forward.js'
import type { AccessEntry } from './access-log.js'

/** What a paid request brings to the relay. */
export type PaidRelay = {
  readonly channelId: Hex
  readonly challengeId: string
  readonly snapshot: ChannelSnapshot
  readonly reservationId: string | undefined
  readonly txHash: Hex | undefined
}

/** The `Payment-Receipt` value for a session answer. */
export function sessionReceipt(options: {
  channelId: Hex
  challengeId: string
  snapshot: ChannelSnapshot
  txHash: Hex | undefined
  now: number
}): string {
  return encodeReceipt({
    method: 'tempo',
    intent: 'session',
    status: 'success',
    timestamp: new Date(options.now).toISOString(),
    reference: options.channelId,
    challengeId: options.challengeId,
    channelId: options.channelId,
    acceptedCumulative: options.snapshot.accepted.toString(),
    spent: options.snapshot.spent.toString(),
    units: options.snapshot.units,
    ...(options.txHash ? { txHash: options.txHash } : {}),
  })
}

export async function relay(options: {
  upstream: Upstream
  route: Route
  /** The routed path plus the original query: exactly what was priced, nothing else. */
  target: string
  request: IncomingMessage
  response: ServerResponse
  ledger: LedgerPort
  paid: PaidRelay | undefined
  entry: AccessEntry
  now: () => number
}): Promise<ForwardOutcome> {
  const { paid, route, ledger, entry } = options
  const started = options.now()
  let decided = false

  const beforeHead = async (status: number): Promise<Record<string, string>> => {
    entry.upstreamStatus = status
    entry.upstreamMs = options.now() - started
    // The gateway's id replaces any the upstream answers with (see app.ts).
    const requestId = { 'x-request-id': entry.requestId }
    if (!paid) return requestId
    decided = true
    const served = route.served(status)
    let snapshot = paid.snapshot
    if (paid.reservationId) {
      if (served) {
        const committed = await ledger.commit(paid.channelId, paid.reservationId, options.now())
        if (committed.kind !== 'committed') {
          // The reservation lapsed or the channel closed meanwhile: this answer is not paid for,
          // so it is not delivered.
          throw new GatewayError(
            'channel-finalized',
            'The payment for this request could not be recorded.',
            {
              details: { reason: committed.kind },
            },
          )
        }
        snapshot = committed.snapshot
        entry.charged = route.price?.toString() ?? '0'
      } else {
        await ledger.release(paid.channelId, paid.reservationId, options.now())
        entry.charged = '0'
      }
    } else {
      entry.charged = route.price?.toString() ?? '0'
    }
    if (!served && (status < 200 || status > 299)) return requestId
    return {
      'payment-receipt': sessionReceipt({
        channelId: paid.channelId,
        challengeId: paid.challengeId,
        snapshot,
        txHash: paid.txHash,
        now: options.now(),
      }),
      'cache-control': 'private',
      ...requestId,
    }
  }

  let outcome: ForwardOutcome
  try {
    outcome = await forward({
      upstream: options.upstream,
      request: options.request,
      response: options.response,
      method: options.request.method ?? 'GET',
      path: options.target,
      requestId: entry.requestId,
      beforeHead,
    })
  } finally {
    if (paid?.reservationId && !decided) {
      // Never reached the charge boundary: nothing was delivered, nothing is charged.
      await ledger.release(paid.channelId, paid.reservationId, options.now()).catch(() => undefined)
      entry.charged = '0'
    }
  }
  return outcome
}
