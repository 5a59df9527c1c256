/**
 * Management requests (protocol.md §2.7): a voucher on a request without content (HEAD, or a
 * bodiless POST without query) is answered 204 with a receipt, charges nothing and never reaches
 * the upstream; an equal voucher is an idempotent success; a voucher raising the total by less than
 * `minVoucherDelta` is refused with delta-too-small.
 */
import { holdsConfirmed } from '../support/wait.js'
import { tempo } from 'mppx/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import type { DevnetClient, DevnetKey } from '../devnet/devnet.js'
import type { ExampleUpstream } from '../support/example-upstream.js'
import { startDevnetGateway, type DevnetGateway } from '../support/devnet-gateway.js'
import { fetchChallenge, voucherSigner, type VoucherSigner } from '../support/vouchers.js'

const price = 10_000n
const path = '/v1/execution/m/results'

describe('management requests and voucher rules', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let gateway: Gateway
  let signer: VoucherSigner
  let channelId: `0x${string}`
  let setup: DevnetGateway

  beforeAll(async () => {
    setup = await startDevnetGateway({
      edit: (doc) => {
        doc.setIn(['session', 'minVoucherDelta'], '0.005')
        doc.setIn(['session', 'suggestedDeposit'], '1')
      },
    })
    ;({ devnet, upstream, gateway } = setup)
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const client = devnet.clientFor(payer.privateKey)
    const session = tempo.session.manager({ client, maxDeposit: '1' })
    expect((await session.fetch(`${gateway.url}${path}`)).status).toBe(200)
    channelId = session.channelId!
    const record = (await gateway.deps.ledger.get(channelId))!
    signer = voucherSigner({
      payerKey: payer.privateKey,
      chainId: devnet.chainId,
      escrow: devnet.escrow,
      channelId,
      descriptor: record.descriptor,
      challenge: await fetchChallenge(`${gateway.url}${path}`),
    })
  })
  afterAll(() => setup.stop())

  it.each(['HEAD', 'POST'])(
    'a voucher on a %s without content: 204 + receipt, no charge, no upstream call',
    async (method) => {
      await holdsConfirmed(gateway.deps.ledger, channelId)
      const before = (await gateway.deps.ledger.get(channelId))!
      const seen = upstream.seen.length
      const cumulative = before.accepted.cumulative + price
      const response = await fetch(`${gateway.url}${path}`, {
        method,
        headers: { authorization: await signer.credential(cumulative) },
      })
      expect(response.status).toBe(204)
      expect(response.headers.get('cache-control')).toBe('private')
      const receipt = decodeReceipt(response.headers.get('payment-receipt')!)
      expect(receipt).toMatchObject({
        channelId,
        acceptedCumulative: String(cumulative),
        spent: String(before.spent),
      })
      expect(upstream.seen.length).toBe(seen)
      expect(await gateway.deps.ledger.get(channelId)).toMatchObject({
        spent: before.spent,
        units: before.units,
        accepted: { cumulative },
      })
    },
  )

  it('an equal voucher is an idempotent success while headroom lasts', async () => {
    const record = (await gateway.deps.ledger.get(channelId))!
    const headroom = record.accepted.cumulative - record.spent
    expect(headroom).toBe(2n * price)
    const same = await signer.credential(record.accepted.cumulative)
    // Three different requests: the same credential for the same request would be a retry,
    // answered from its stored copy (docs/DESIGN.md "Paid retries").
    const first = await fetch(`${gateway.url}${path}?n=1`, { headers: { authorization: same } })
    const second = await fetch(`${gateway.url}${path}?n=2`, { headers: { authorization: same } })
    expect([first.status, second.status]).toEqual([200, 200])
    const [r1, r2] = [first, second].map((r) => decodeReceipt(r.headers.get('payment-receipt')!))
    expect(r1!.acceptedCumulative).toBe(r2!.acceptedCumulative)
    expect(BigInt(r2!.spent as string)).toBe(record.spent + 2n * price)
    const third = await fetch(`${gateway.url}${path}?n=3`, { headers: { authorization: same } })
    expect(third.status).toBe(402)
    expect(await third.json()).toMatchObject({
      code: 'insufficient-balance',
      details: {
        available: '0',
        required: String(price),
        requiredTopUp: String(price),
        acceptedCumulative: String(record.accepted.cumulative),
        spent: String(record.spent + 2n * price),
      },
    })
  })

  it('a voucher raising the total by less than minVoucherDelta: delta-too-small, nothing changes', async () => {
    await holdsConfirmed(gateway.deps.ledger, channelId)
    const before = (await gateway.deps.ledger.get(channelId))!
    const response = await fetch(`${gateway.url}${path}`, {
      headers: { authorization: await signer.credential(before.accepted.cumulative + 1_000n) },
    })
    expect(response.status).toBe(402)
    expect(((await response.json()) as { type: string }).type).toBe(
      'https://paymentauth.org/problems/session/delta-too-small',
    )
    expect(await gateway.deps.ledger.get(channelId)).toMatchObject({
      accepted: before.accepted,
      spent: before.spent,
    })
  })
})
