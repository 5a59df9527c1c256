/**
 * `session.minDeposit`: an `open` that locks less is refused before anything is broadcast, with a
 * machine-readable answer; a client that deposits enough opens and pays as usual.
 */
import { tempo } from 'mppx/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import type { DevnetClient, DevnetKey } from '../devnet/devnet.js'
import type { ExampleUpstream } from '../support/example-upstream.js'
import { startDevnetGateway, type DevnetGateway } from '../support/devnet-gateway.js'

const paidPath = '/v1/execution/x/results'

describe('minimum deposit', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let gateway: Gateway
  let setup: DevnetGateway

  beforeAll(async () => {
    setup = await startDevnetGateway({
      edit: (doc) => {
        doc.setIn(['session', 'suggestedDeposit'], '0.2')
        doc.setIn(['session', 'minDeposit'], '0.1')
      },
    })
    ;({ devnet, upstream, gateway } = setup)
  })
  afterAll(() => setup.stop())

  it('refuses an open below the minimum: deposit-too-small, nothing broadcast or recorded', async () => {
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const balanceBefore = await devnet.balance(payer.address)
    const nonceBefore = await devnet.publicClient.getTransactionCount({ address: payer.address })
    const seenBefore = upstream.seen.length
    const responses: Response[] = []
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '0.05',
      fetch: async (...args: Parameters<typeof fetch>) => {
        const response = await fetch(...args)
        responses.push(response.clone())
        return response
      },
    })
    const final = await session.fetch(`${gateway.url}${paidPath}`)
    expect(final.status).toBe(402)
    // The first answer is the challenge; every open mppx then tries is refused the same way.
    const [challenge, ...opens] = responses
    expect(challenge!.status).toBe(402)
    expect(((await challenge!.json()) as { code: string }).code).toBe('payment-required')
    expect(opens.length).toBeGreaterThan(0)
    for (const refused of opens) {
      expect(refused.status).toBe(402)
      expect(await refused.json()).toMatchObject({
        type: 'https://paymentauth.org/problems/verification-failed',
        code: 'deposit-too-small',
        details: { deposit: '50000', minDeposit: '100000' },
      })
    }
    expect(await devnet.balance(payer.address)).toBe(balanceBefore)
    expect(await devnet.publicClient.getTransactionCount({ address: payer.address })).toBe(
      nonceBefore,
    )
    expect(upstream.seen.length).toBe(seenBefore)
  })

  it('accepts an open of exactly the minimum, and the session pays as usual', async () => {
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '0.1',
    })
    const response = await session.fetch(`${gateway.url}${paidPath}`)
    expect(response.status).toBe(200)
    expect(await gateway.deps.ledger.get(session.channelId!)).toMatchObject({
      deposit: 100_000n,
      spent: 10_000n,
    })
  })
})
