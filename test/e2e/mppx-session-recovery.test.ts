/**
 * Session recovery with the real mppx 0.11 session manager on the devnet.
 *
 * 1. A client that lost its local state (a new manager with an empty channel store and
 *    `bootstrap: true`) continues on its open channel: mppx's HEAD with `Accept-Payment:
 *    tempo/charge` gets the recovery challenge, its proof gets the channel's snapshot, and every
 *    later request pays on that channel — no second channel is opened — and its close refunds
 *    exactly `deposit − spent`.
 * 2. A client that lost an answer after it was charged (it gave up while the upstream was still
 *    working, on a dear `charge: always` route) falls behind the voucher the gateway accepted by
 *    more than its retries climb; its vouchers are refused `insufficient-balance` with a snapshot
 *    in the challenge, and mppx then retries with the voucher the snapshot names.
 */
import { tempo } from 'mppx/client'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import { connectDevnet, type DevnetKey } from '../devnet/devnet.js'
import { startDevnetGateway, type DevnetGateway } from '../support/devnet-gateway.js'
import { memoryLogger } from '../support/gateway.js'
import { until } from '../support/wait.js'

const price = 10_000n // "0.01" in config/devnet.yaml
const executePrice = 50_000n // "0.05", set below
const deposit = 100_000n // session.suggestedDeposit "0.1" in config/devnet.yaml

describe('session recovery with the real mppx client', () => {
  let setup: DevnetGateway
  let payee: DevnetKey
  const log = memoryLogger()

  beforeAll(async () => {
    ;[payee] = (await connectDevnet(inject('devnet')).newPayers(1)) as [DevnetKey]
    setup = await startDevnetGateway({
      logger: log.logger,
      extraEnv: { DEVNET_PAYEE_ADDRESS: payee.address, DEVNET_PAYEE_KEY: payee.privateKey },
      edit: (doc) => {
        // `execute` is dear and charges every forwarded request, also one whose client gave up.
        doc.setIn(['routes', 0, 'price'], '0.05')
        doc.setIn(['routes', 0, 'charge'], 'always')
        // The close is the only settlement, so the figures on chain are exact.
        doc.setIn(['settlement', 'enabled'], false)
      },
    })
  })
  afterAll(async () => {
    setup?.upstream.releaseHeld()
    await setup?.stop()
  })

  const answers = (since: number) =>
    log.lines
      .slice(since)
      .filter((l) => l.msg === 'request')
      .map((l) => `${String(l.method)} ${String(l.status)} ${String(l.outcome)}`)

  it('a client with a wiped store continues on its open channel; the close refunds deposit − spent', async () => {
    const { devnet, gateway } = setup
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const client = devnet.clientFor(payer.privateKey)
    const payeeBefore = await devnet.balance(payee.address)
    const payerBefore = await devnet.balance(payer.address)

    const first = tempo.session.manager({ client, maxDeposit: '1' })
    for (const id of ['a1', 'a2']) {
      const response = await first.fetch(`${gateway.url}/v1/execution/${id}/results`)
      expect(response.status).toBe(200)
      await response.arrayBuffer()
    }
    const channelId = first.channelId!
    expect(await devnet.balance(payer.address)).toBe(payerBefore - deposit)

    // The client's state is gone: a new manager, a new (empty) channel store.
    const linesBefore = log.lines.length
    const second = tempo.session.manager({ client, maxDeposit: '1', bootstrap: true })
    const paths = ['/v1/sql/execute', '/v1/execution/b1/results', '/v1/execution/b2/results']
    const receipts: Record<string, unknown>[] = []
    for (const path of paths) {
      const init: RequestInit =
        path === '/v1/sql/execute'
          ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }
          : {}
      const response = await second.fetch(`${gateway.url}${path}`, init)
      expect(response.status, path).toBe(200)
      await response.arrayBuffer()
      receipts.push(decodeReceipt(response.headers.get('payment-receipt')!))
    }
    expect(second.channelId).toBe(channelId)
    const spent = 2n * price + executePrice + 2n * price
    expect(receipts.map((r) => [r.channelId, r.spent])).toEqual([
      [channelId, String(2n * price + executePrice)],
      [channelId, String(3n * price + executePrice)],
      [channelId, String(spent)],
    ])
    // The recovery: mppx's HEAD got the recovery challenge, its proof the snapshot; then a paid
    // request per path. No channel was opened.
    expect(answers(linesBefore).slice(0, 3)).toEqual([
      'HEAD 402 challenge',
      'HEAD 204 recovered',
      'POST 402 challenge',
    ])
    const opened = await setup.gateway.deps.ledger.channelsOf(payer.address, 10)
    expect(opened.map((c) => c.channelId)).toEqual([channelId])
    expect(await devnet.balance(payer.address)).toBe(payerBefore - deposit)

    const closed = await second.close()
    expect(closed).toMatchObject({ channelId, spent: String(spent) })
    expect(closed?.txHash).toMatch(/^0x[0-9a-f]{64}$/)
    // The refund is exactly deposit − spent: the payer is down by what it spent, nothing more.
    expect(await devnet.balance(payer.address)).toBe(payerBefore - spent)
    expect(await devnet.balance(payee.address)).toBe(payeeBefore + spent)
  })

  it('a client that lost a dear charged answer catches up from the snapshot in the refusal', async () => {
    const { devnet, gateway, upstream } = setup
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '1',
    })
    const payerBefore = await devnet.balance(payer.address)
    const payeeBefore = await devnet.balance(payee.address)
    const results = (id: string) => `${gateway.url}/v1/execution/${id}/results`
    expect((await session.fetch(results('l1'))).status).toBe(200)
    const channelId = session.channelId!

    // The upstream works on the dear `execute` until released; the client gives up meanwhile.
    // Under `charge: always` the gateway charges that request, which the client never learns.
    upstream.script((request) => (request.url.includes('m=lost') ? { kind: 'hang' } : undefined))
    const abandon = new AbortController()
    const lost = session.fetch(`${gateway.url}/v1/sql/execute?m=lost`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      signal: abandon.signal,
    })
    await until('the upstream to hold the execute', async () =>
      upstream.seen.some((r) => r.url.includes('m=lost')) ? true : undefined,
    )
    abandon.abort()
    await expect(lost).rejects.toThrow()
    const charged = price + executePrice
    // Charged when its credential was accepted (a hold); its access line is written once the
    // gateway has seen the client go, which decides that the hold stands.
    await until('the abandoned request to be logged', async () =>
      log.lines.some((l) => l.msg === 'request' && l.outcome === 'client-aborted')
        ? true
        : undefined,
    )
    expect((await gateway.deps.ledger.get(channelId))?.spent).toBe(charged)
    upstream.script(undefined)
    upstream.releaseHeld()

    // The client rolled back to its last receipt, so its next vouchers (one price more per
    // attempt, three attempts) stay below what was charged: each is refused. The refusal's
    // challenge carries the snapshot, and mppx signs the voucher it names and retries.
    const linesBefore = log.lines.length
    const next = await session.fetch(results('l2'))
    expect(next.status).toBe(200)
    expect(decodeReceipt(next.headers.get('payment-receipt')!)).toMatchObject({
      channelId,
      acceptedCumulative: String(charged + price),
      spent: String(charged + price),
    })
    expect(answers(linesBefore)).toEqual([
      'GET 402 challenge',
      'GET 402 insufficient-balance',
      'GET 402 insufficient-balance',
      'GET 402 insufficient-balance',
      'GET 200 forwarded',
    ])
    // mppx closes on the last challenge it saw, the refusal's, whose snapshot is outdated by the
    // retry: that close is refused with a fresh snapshot, and mppx signs it again at the accepted
    // amount. The close captures exactly what was spent, and its receipt is the one mppx expects.
    const closeLines = log.lines.length
    const closed = await session.close()
    expect(closed).toMatchObject({
      channelId,
      acceptedCumulative: String(charged + price),
      spent: String(charged + price),
    })
    expect(answers(closeLines)).toEqual(['POST 402 close-voucher-outdated', 'POST 204 close'])
    expect((await gateway.deps.ledger.get(channelId))?.status).toBe('finalized')
    expect(await devnet.balance(payer.address)).toBe(payerBefore - (charged + price))
    expect(await devnet.balance(payee.address)).toBe(payeeBefore + charged + price)
  })
})
