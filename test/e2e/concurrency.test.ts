/**
 * Racing paid requests on one channel: every 200 is covered by an accepted voucher, and `spent`
 * is exactly the number of charged answers times the price — never more, never less.
 */
import { tempo } from 'mppx/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import type { DevnetClient, DevnetKey } from '../devnet/devnet.js'
import type { ExampleUpstream } from '../support/example-upstream.js'
import { startDevnetGateway, type DevnetGateway } from '../support/devnet-gateway.js'
import { expectExactCharges } from '../support/charges.js'
import { fetchChallenge, voucherSigner } from '../support/vouchers.js'

const price = 10_000n
const path = '/v1/execution/c/results'

describe('concurrent paid requests on one channel', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let gateway: Gateway
  let setup: DevnetGateway

  beforeAll(async () => {
    setup = await startDevnetGateway({
      edit: (doc) => doc.setIn(['session', 'suggestedDeposit'], '2'),
    })
    ;({ devnet, upstream, gateway } = setup)
  })
  afterAll(() => setup.stop())

  async function openedChannel() {
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const client = devnet.clientFor(payer.privateKey)
    const session = tempo.session.manager({ client, maxDeposit: '2' })
    expect((await session.fetch(`${gateway.url}${path}`)).status).toBe(200)
    const record = (await gateway.deps.ledger.get(session.channelId!))!
    const signer = voucherSigner({
      payerKey: payer.privateKey,
      chainId: devnet.chainId,
      escrow: devnet.escrow,
      channelId: record.channelId,
      descriptor: record.descriptor,
      challenge: await fetchChallenge(`${gateway.url}${path}`),
    })
    const credential = (amount: bigint) => signer.credential(amount)
    return { channelId: record.channelId, start: record.accepted.cumulative, credential }
  }

  const fire = (authorization: string) =>
    fetch(`${gateway.url}${path}`, { headers: { authorization } }).then(async (r) => ({
      status: r.status,
      receipt: r.headers.get('payment-receipt'),
      body: await r.text(),
    }))

  it('50 racing vouchers: every 200 is covered and spent is exact', async () => {
    const { channelId, start, credential } = await openedChannel()
    const seenBefore = upstream.seen.length
    const credentials = await Promise.all(
      Array.from({ length: 50 }, (_, i) => credential(start + BigInt(i + 1) * price)),
    )
    const results = await Promise.all(credentials.map(fire))
    expectExactCharges({
      answers: results,
      record: (await gateway.deps.ledger.get(channelId))!,
      start,
      price,
      forwarded: upstream.seen.length - seenBefore,
    })
  })

  it('50 requests re-sending one credential for the same request: forwarded and charged once', async () => {
    // The same credential for the same request is a retry (docs/DESIGN.md "Paid retries"): the
    // first is forwarded; the others are replayed, told it is in flight, or refused for want of
    // headroom — none of them charged or forwarded.
    const { channelId, start, credential } = await openedChannel()
    const seenBefore = upstream.seen.length
    const one = await credential(start + 30n * price)
    const results = await Promise.all(Array.from({ length: 50 }, () => fire(one)))
    const served = results.filter((r) => r.status === 200)
    expect(served.length).toBeGreaterThan(0)
    expect(new Set(served.map((r) => r.body)).size).toBe(1)
    const codes = results
      .filter((r) => r.status !== 200)
      .map((r) => (JSON.parse(r.body) as { code: string }).code)
    for (const code of codes)
      expect(['idempotency-in-flight', 'insufficient-balance']).toContain(code)
    expect(await gateway.deps.ledger.get(channelId)).toMatchObject({
      spent: start + price,
      units: 2,
      reserved: 0n,
    })
    expect(upstream.seen.length - seenBefore).toBe(1)
  })
})
