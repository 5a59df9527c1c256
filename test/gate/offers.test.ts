/**
 * The offers a priced route answers with, in process (memory ledger, no chain): `Accept-Payment`
 * negotiation, the credential header of an upstream that takes the client's own `Authorization`,
 * session recovery (the zero-amount `tempo/charge` proof, with mppx 0.11's own client making the
 * proof), and the session snapshot of an `insufficient-balance` answer.
 */
import { Challenge as MppxChallenge } from 'mppx'
import { tempo } from 'mppx/client'
import { Session } from 'mppx/tempo'
import { createClient, http, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { tempo as tempoChain } from 'viem/chains'
import { afterEach, describe, expect, it } from 'vitest'
import { parsePaymentChallenges } from '../../src/protocol/auth-params.js'
import { decodeBase64urlJson, encodeBase64url } from '../../src/protocol/base64url.js'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import {
  prices,
  startInProcessGateway,
  type InProcessGateway,
} from '../support/in-process-gateway.js'
import { voucherSigner } from '../support/vouchers.js'

let gw!: InProcessGateway
const running: InProcessGateway[] = []
async function start() {
  gw = await startInProcessGateway()
  running.push(gw)
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((g) => g.stop()))
})

/** The challenges of an answer, as `method/intent` with their decoded requests. */
function challengesOf(response: Response) {
  const header = response.headers.get('www-authenticate')
  return (header ? parsePaymentChallenges(header) : []).map((c) => ({
    kind: `${c.method}/${c.intent}`,
    request: decodeBase64urlJson(c.request!) as Record<string, unknown>,
    params: c,
  }))
}

const ask = (path: string, init: RequestInit = {}) => fetch(`${gw.url}${path}`, init)

describe('Accept-Payment', () => {
  it('offers the session to a client that accepts it, or states no preference', async () => {
    await start()
    for (const accept of [undefined, 'tempo/session', 'tempo/*;q=0.3, */*;q=0', 'not a list']) {
      const response = await ask('/paid/1', accept ? { headers: { 'accept-payment': accept } } : {})
      expect(response.status, String(accept)).toBe(402)
      expect(challengesOf(response).map((c) => c.kind)).toEqual(['tempo/session'])
    }
  })

  it('answers 406 payment-method-unacceptable to a client that takes only what is not offered', async () => {
    await start()
    const response = await ask('/paid/1', { headers: { 'accept-payment': 'tempo/charge' } })
    expect(response.status).toBe(406)
    expect(response.headers.get('cache-control')).toBe('no-store')
    const problem = (await response.json()) as Record<string, unknown>
    expect(problem).toMatchObject({
      code: 'payment-method-unacceptable',
      status: 406,
      details: { offered: 'tempo/session' },
    })
    // The answer shows what the client could pay with, and nothing reached the upstream.
    const [offered] = challengesOf(response)
    expect(offered?.kind).toBe('tempo/session')
    expect(problem.challengeId).toBe(offered?.params.id)
    expect(gw.seen).toEqual([])
  })

  it('offers session recovery beside the session on a HEAD, ordered by the client', async () => {
    await start()
    const head = (accept?: string) =>
      ask('/paid/1', {
        method: 'HEAD',
        ...(accept ? { headers: { 'accept-payment': accept } } : {}),
      })
    expect(challengesOf(await head()).map((c) => c.kind)).toEqual(['tempo/session', 'tempo/charge'])
    expect(challengesOf(await head('tempo/*;q=0.2, tempo/charge')).map((c) => c.kind)).toEqual([
      'tempo/charge',
      'tempo/session',
    ])
    // What mppx's session manager sends before it opens a channel: only the recovery challenge.
    const bootstrap = challengesOf(await head('tempo/charge'))
    expect(bootstrap.map((c) => c.kind)).toEqual(['tempo/charge'])
    expect(bootstrap[0]?.request).toEqual({
      amount: '0',
      currency: gw.terms.currency,
      recipient: gw.terms.recipient,
      methodDetails: { chainId: gw.terms.chainId },
    })
    // A POST-only priced route takes the recovery HEAD too (it is never forwarded).
    const post = await ask('/submit', {
      method: 'HEAD',
      headers: { 'accept-payment': 'tempo/charge' },
    })
    expect(post.status).toBe(402)
    expect(challengesOf(post).map((c) => c.kind)).toEqual(['tempo/charge'])
    expect(gw.seen).toEqual([])
  })
})

describe('Payment-Authorization (clientAuthorization: passthrough)', () => {
  it("asks for the payment in Payment-Authorization and forwards the client's own Authorization untouched", async () => {
    await start()
    const probe = await ask('/pass/1')
    const [challenge] = challengesOf(probe)
    expect(challenge?.params.header).toBe('Payment-Authorization')
    expect(challengesOf(await ask('/paid/1'))[0]?.params.header).toBeUndefined()

    const bearer = 'Bearer  client-own-key/with+odd=chars '
    const payment = await gw.credential('/pass/1', prices.paid)
    const paid = await ask('/pass/1', {
      headers: { authorization: bearer, 'payment-authorization': payment },
    })
    expect(paid.status).toBe(200)
    expect(decodeReceipt(paid.headers.get('payment-receipt')!)).toMatchObject({
      spent: String(prices.paid),
    })
    const [forwarded] = gw.heard
    // Node trims the value's outer whitespace on the way in; the bytes in between arrive as sent.
    expect(forwarded?.authorization).toBe(bearer.trim())
    expect(forwarded?.['payment-authorization']).toBeUndefined()
    expect(JSON.stringify(forwarded)).not.toMatch(/Payment /)
  })

  it('refuses a credential whose echoed challenge dropped the header parameter', async () => {
    await start()
    const payment = await gw.credential('/pass/1', prices.paid)
    const wire = JSON.parse(
      Buffer.from(payment.slice('Payment '.length), 'base64url').toString('utf8'),
    ) as { challenge: Record<string, string> }
    delete wire.challenge.header
    const forged = `Payment ${encodeBase64url(JSON.stringify(wire))}`
    const response = await ask('/pass/1', { headers: { 'payment-authorization': forged } })
    expect(response.status).toBe(402)
    expect(await response.json()).toMatchObject({ code: 'invalid-challenge' })
    expect(gw.seen).toEqual([])
  })
})

describe('a route paid by one-shot charge too', () => {
  /** A Payment credential for `challenge` with `payload`, as a client would send it. */
  const credentialOf = (challenge: Record<string, string>, payload: unknown) =>
    `Payment ${encodeBase64url(JSON.stringify({ challenge, payload }))}`

  it("offers one challenge per intent, in the route's order, narrowed by Accept-Payment", async () => {
    await start()
    const both = challengesOf(await ask('/both/1'))
    expect(both.map((c) => c.kind)).toEqual(['tempo/session', 'tempo/charge'])
    expect(both[1]?.request).toEqual({
      amount: String(prices.paid),
      currency: gw.terms.currency,
      recipient: gw.terms.recipient,
      methodDetails: { chainId: gw.terms.chainId },
    })
    const only = (accept: string) =>
      ask('/both/1', { headers: { 'accept-payment': accept } }).then((r) =>
        challengesOf(r).map((c) => c.kind),
      )
    expect(await only('tempo/charge')).toEqual(['tempo/charge'])
    expect(await only('tempo/session')).toEqual(['tempo/session'])
    expect(await only('tempo/session;q=0.5, tempo/charge')).toEqual([
      'tempo/charge',
      'tempo/session',
    ])
    expect(challengesOf(await ask('/charge-only/1')).map((c) => c.kind)).toEqual(['tempo/charge'])
    expect(gw.seen).toEqual([])
  })

  it('on a HEAD, recovery (amount 0) comes before the priced charge', async () => {
    await start()
    const head = await ask('/both/1', {
      method: 'HEAD',
      headers: { 'accept-payment': 'tempo/charge' },
    })
    expect(challengesOf(head).map((c) => [c.kind, c.request.amount])).toEqual([
      ['tempo/charge', '0'],
      ['tempo/charge', String(prices.paid)],
    ])
  })

  it('refuses a proof, a malformed payload, and a session credential where only charge is offered', async () => {
    await start()
    const [charge] = parsePaymentChallenges(
      (await ask('/both/1', { headers: { 'accept-payment': 'tempo/charge' } })).headers.get(
        'www-authenticate',
      )!,
    )
    const refusals: [string, number, string][] = []
    const attempt = async (label: string, path: string, authorization: string) => {
      const response = await ask(path, { headers: { authorization } })
      const body = (await response.json()) as { code: string }
      refusals.push([label, response.status, body.code])
    }
    await attempt('proof', '/both/1', credentialOf(charge!, { type: 'proof', signature: '0x00' }))
    await attempt('no payload type', '/both/1', credentialOf(charge!, { hash: '0x12' }))
    await attempt(
      'charge of another route',
      '/paid/1',
      credentialOf(charge!, { type: 'hash', hash: `0x${'ab'.repeat(32)}` }),
    )
    await attempt('session voucher', '/charge-only/1', await gw.credential('/both/1', prices.paid))
    expect(refusals).toEqual([
      ['proof', 402, 'verification-failed'],
      ['no payload type', 402, 'malformed-credential'],
      ['charge of another route', 402, 'invalid-challenge'],
      ['session voucher', 402, 'invalid-challenge'],
    ])
    expect(gw.seen).toEqual([])
    expect((await gw.ledger.get(gw.channelId))?.accepted.cumulative).toBe(0n)
  })
})

describe('a gateway that takes pull charges only', () => {
  it('states supportedModes ["pull"] and refuses a hash credential before the upstream', async () => {
    gw = await startInProcessGateway({ chargeModes: ['pull'] })
    running.push(gw)
    const response = await ask('/charge-only/1')
    const [charge] = challengesOf(response)
    expect(charge?.request.methodDetails).toEqual({
      chainId: gw.terms.chainId,
      supportedModes: ['pull'],
    })
    const authorization = `Payment ${encodeBase64url(
      JSON.stringify({
        challenge: charge!.params,
        payload: { type: 'hash', hash: `0x${'cd'.repeat(32)}` },
      }),
    )}`
    const refused = await ask('/charge-only/1', { headers: { authorization } })
    expect(refused.status).toBe(402)
    expect(((await refused.json()) as { code: string }).code).toBe('verification-failed')
    expect(gw.seen).toEqual([])
  })
})

describe('session recovery', () => {
  /** A recovery credential made by mppx 0.11's own charge client for `key`. */
  async function proof(key: Hex, path = '/paid/1'): Promise<string> {
    const response = await ask(path, {
      method: 'HEAD',
      headers: { 'accept-payment': 'tempo/charge' },
    })
    const challenge = MppxChallenge.fromResponseList(response)[0]!
    const account = privateKeyToAccount(key)
    const client = createClient({
      account,
      chain: { ...tempoChain, id: gw.terms.chainId },
      // Never called: a zero-amount proof is signed locally.
      transport: http('http://127.0.0.1:9'),
    })
    const method = tempo.charge({ account, getClient: () => client })
    return method.createCredential({ challenge: challenge as never, context: {} })
  }

  const recoverWith = (authorization: string, path = '/paid/1') =>
    ask(path, { method: 'HEAD', headers: { authorization } })

  it("answers a payer's proof with its open channel, and a channel without a voucher with nothing", async () => {
    await start()
    const before = await recoverWith(await proof(gw.payerKey))
    expect(before.status).toBe(204)
    expect(before.headers.get('payment-session')).toBeNull()

    const paid = await ask('/paid/1', {
      headers: { authorization: await gw.credential('/paid/1', 3n * prices.paid) },
    })
    expect(paid.status).toBe(200)
    const after = await recoverWith(await proof(gw.payerKey, '/submit'), '/submit')
    expect(after.status).toBe(204)
    expect(after.headers.get('cache-control')).toBe('no-store')
    expect(after.headers.get('payment-session')).toBe(gw.channelId)
    const snapshot = Session.deserializeSnapshot(after.headers.get('payment-session-snapshot')!)
    const record = (await gw.ledger.get(gw.channelId))!
    expect(snapshot).toEqual({
      acceptedCumulative: String(3n * prices.paid),
      chainId: gw.terms.chainId,
      channelId: gw.channelId,
      deposit: String(record.deposit),
      descriptor: record.descriptor,
      escrow: gw.terms.escrow,
      highestVoucher: {
        channelId: gw.channelId,
        cumulativeAmount: String(3n * prices.paid),
        signature: record.accepted.signature,
      },
      requiredCumulative: String(prices.paid),
      settled: '0',
      spent: String(prices.paid),
      units: 1,
    })
    // Recovery is never forwarded and charges nothing.
    expect(gw.seen).toEqual(['/paid/1'])
    expect((await gw.ledger.get(gw.channelId))!.spent).toBe(prices.paid)
  })

  it('shows nothing to a proof of another account, and refuses a forged or foreign proof', async () => {
    await start()
    await ask('/paid/1', {
      headers: { authorization: await gw.credential('/paid/1', prices.paid) },
    })
    const stranger = await recoverWith(await proof(generatePrivateKey()))
    expect(stranger.status).toBe(204)
    expect(stranger.headers.get('payment-session')).toBeNull()

    const genuine = await proof(gw.payerKey)
    const wire = JSON.parse(
      Buffer.from(genuine.slice('Payment '.length), 'base64url').toString('utf8'),
    ) as { source: string; payload: { signature: string } }
    const other = privateKeyToAccount(generatePrivateKey()).address
    const cases = {
      // Someone else's address in `source`, the payer's signature: the proof names the source.
      'another source': { ...wire, source: `did:pkh:eip155:${gw.terms.chainId}:${other}` },
      'another chain': { ...wire, source: wire.source.replace(/:\d+:/, ':1:') },
      'no source': { ...wire, source: undefined },
    }
    for (const [name, forged] of Object.entries(cases)) {
      const response = await ask('/paid/1', {
        method: 'GET',
        headers: {
          authorization: `Payment ${encodeBase64url(JSON.stringify(forged))}`,
          'accept-payment': 'tempo/charge, tempo/session',
        },
      })
      expect(response.status, name).toBe(402)
      expect(await response.json(), name).toMatchObject({ code: 'verification-failed' })
      expect(response.headers.get('payment-session'), name).toBeNull()
    }
  })
})

describe('the session snapshot of an insufficient-balance answer', () => {
  it('names the voucher that pays the request now, and that challenge is payable', async () => {
    await start()
    const first = await gw.credential('/paid/1', prices.paid)
    expect((await ask('/paid/1', { headers: { authorization: first } })).status).toBe(200)
    // The client lost that answer and sends the same voucher again: no headroom is left.
    const again = await ask('/paid/2', { headers: { authorization: first } })
    expect(again.status).toBe(402)
    expect(await again.json()).toMatchObject({ code: 'insufficient-balance' })
    const [challenge] = challengesOf(again)
    const details = challenge!.request.methodDetails as Record<string, unknown>
    expect(details.sessionSnapshot).toMatchObject({
      channelId: gw.channelId,
      acceptedCumulative: String(prices.paid),
      spent: String(prices.paid),
      requiredCumulative: String(2n * prices.paid),
    })
    // Paying exactly that challenge with the required voucher is accepted: the snapshot changes
    // nothing about the terms the credential is held to.
    const record = (await gw.ledger.get(gw.channelId))!
    const signer = voucherSigner({
      payerKey: gw.payerKey,
      chainId: gw.terms.chainId,
      escrow: gw.terms.escrow,
      channelId: gw.channelId,
      descriptor: record.descriptor,
      challenge: challenge!.params,
    })
    const retried = await ask('/paid/2', {
      headers: { authorization: await signer.credential(2n * prices.paid) },
    })
    expect(retried.status).toBe(200)
    expect(decodeReceipt(retried.headers.get('payment-receipt')!)).toMatchObject({
      spent: String(2n * prices.paid),
    })
    // An ordinary probe carries no snapshot.
    const probe = challengesOf(await ask('/paid/3'))[0]!
    expect(probe.request.methodDetails).not.toHaveProperty('sessionSnapshot')
  })
})
