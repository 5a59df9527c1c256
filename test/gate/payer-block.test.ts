/**
 * A blocked payer, in process: its vouchers are refused with `403 payer-blocked` before the
 * ledger or the upstream is touched, whether the request has content or is a management request;
 * lifting the block lets the same voucher pay again.
 */
import { holdsConfirmed } from '../support/wait.js'
import { privateKeyToAccount } from 'viem/accounts'
import { afterEach, describe, expect, it } from 'vitest'
import {
  prices,
  startInProcessGateway,
  type InProcessGateway,
} from '../support/in-process-gateway.js'

let gw: InProcessGateway | undefined
afterEach(async () => {
  await gw?.stop()
  gw = undefined
})

describe('a blocked payer', () => {
  it('is refused with payer-blocked: nothing accepted, reserved, charged or forwarded', async () => {
    const g = (gw = await startInProcessGateway())
    const payer = privateKeyToAccount(g.payerKey).address
    expect(
      (
        await fetch(`${g.url}/paid/1`, {
          headers: { authorization: await g.credential('/paid/1', prices.paid) },
        })
      ).status,
    ).toBe(200)
    await holdsConfirmed(g.ledger, g.channelId)
    const before = await g.ledger.get(g.channelId)
    const forwarded = g.arrivals()

    await g.ledger.blocks.block(payer, { since: Date.now(), reason: 'test' })
    for (const method of ['GET', 'HEAD'] as const) {
      const path = '/paid/2'
      const response = await fetch(`${g.url}${path}`, {
        method,
        headers: { authorization: await g.credential(path, 2n * prices.paid) },
      })
      expect(response.status, method).toBe(403)
      expect(response.headers.get('payment-receipt')).toBeNull()
      if (method === 'GET') {
        expect(response.headers.get('content-type')).toBe('application/problem+json')
        expect(await response.json()).toMatchObject({
          code: 'payer-blocked',
          status: 403,
          type: 'https://mpp-gateway.dev/problems/payer-blocked',
          details: { payer: payer.toLowerCase() },
        })
      }
    }
    expect(g.arrivals()).toBe(forwarded)
    expect(await g.ledger.get(g.channelId)).toEqual(before)
    const line = g.lines.find((l) => l.msg === 'request' && l.status === 403)
    expect(line).toMatchObject({ outcome: 'payer-blocked' })

    expect(await g.ledger.blocks.unblock(payer)).toBe(true)
    const again = await fetch(`${g.url}/paid/3`, {
      headers: { authorization: await g.credential('/paid/3', 2n * prices.paid) },
    })
    expect(again.status).toBe(200)
    expect((await g.ledger.get(g.channelId))!.spent).toBe(2n * prices.paid)
    expect(g.arrivals()).toBe(forwarded + 1)
  })
})
