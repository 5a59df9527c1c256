/**
 * Bad input gets a clear answer and changes nothing: each case below must get the protocol's
 * problem type (and a fresh challenge), must not reach the upstream, must leave the ledger as it
 * was, and must not disturb the gateway (a valid paid request still works afterwards).
 */
import { tempo } from 'mppx/client'
import { createWalletClient, encodeFunctionData, erc20Abi, http, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { holdsConfirmed } from '../support/wait.js'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import type { ChannelRecord } from '../../src/ledger/port.js'
import { parsePaymentChallenges } from '../../src/protocol/auth-params.js'
import {
  challengeKey,
  encodeChallengeRequest,
  issueChallenge,
  type ChallengeFields,
} from '../../src/protocol/challenge.js'
import { decodeBase64urlJson, encodeBase64url } from '../../src/protocol/base64url.js'
import { connectDevnet, type DevnetClient, type DevnetKey } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { signVoucher as signWith } from '../support/vouchers.js'
import { devnetConfig, startTestGateway, testChallengeSecret } from '../support/gateway.js'

const problems = 'https://paymentauth.org/problems/'
const paidPath = '/v1/execution/x/results'

type Challenge = Record<string, string>
type Problem = { type: string; status: number; code: string; challengeId?: string }

describe('bad input changes nothing', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let gateway: Gateway
  let payer: DevnetKey
  let channelId: Hex
  let descriptor: Record<string, string>
  let cumulative: bigint

  const signVoucher = (key: Hex, channelId: Hex, cumulative: bigint) =>
    signWith(key, { chainId: devnet.chainId, escrow: devnet.escrow, channelId, cumulative })

  async function freshChallenge(): Promise<Challenge> {
    const response = await fetch(`${gateway.url}${paidPath}`)
    expect(response.status).toBe(402)
    const [challenge] = parsePaymentChallenges(response.headers.get('www-authenticate')!)
    return challenge!
  }

  const authorization = (challenge: Challenge, payload: unknown, source?: string) =>
    `Payment ${encodeBase64url(
      JSON.stringify({ challenge, payload, ...(source ? { source } : {}) }),
    )}`

  async function voucherPayload(amount: bigint, key: Hex = payer.privateKey) {
    return {
      action: 'voucher',
      channelId,
      descriptor,
      cumulativeAmount: amount.toString(),
      signature: await signVoucher(key, channelId, amount),
    }
  }

  /** Sends a request and checks the problem, the fresh challenge and that nothing changed. */
  async function expectRefused(
    init: { headers?: Record<string, string>; method?: string; body?: string; path?: string },
    expected: { status: number; type: string; code?: string },
  ): Promise<Problem> {
    const seenBefore = upstream.seen.length
    await holdsConfirmed(gateway.deps.ledger, channelId)
    const before = await gateway.deps.ledger.get(channelId)
    const response = await fetch(`${gateway.url}${init.path ?? paidPath}`, {
      method: init.method ?? 'GET',
      ...(init.headers ? { headers: init.headers } : {}),
      ...(init.body !== undefined ? { body: init.body } : {}),
    })
    const problem = (await response.json()) as Problem
    expect(response.status).toBe(expected.status)
    expect(response.headers.get('content-type')).toBe('application/problem+json')
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(response.headers.get('payment-receipt')).toBeNull()
    expect(problem.type).toBe(expected.type)
    if (expected.code) expect(problem.code).toBe(expected.code)
    const challengeHeader = response.headers.get('www-authenticate')
    expect(challengeHeader).toMatch(/^Payment /)
    const [fresh] = parsePaymentChallenges(challengeHeader!)
    expect(problem.challengeId).toBe(fresh!.id)
    expect(upstream.seen.length).toBe(seenBefore)
    expect(stable(await gateway.deps.ledger.get(channelId))).toEqual(stable(before))
    return problem
  }

  /** The challenge's bound fields, without its id. */
  const withoutId = (challenge: Challenge): ChallengeFields => {
    const fields: Record<string, string> = { ...challenge }
    delete fields.id
    return fields as unknown as ChallengeFields
  }

  const stable = (record: ChannelRecord | undefined) => record && { ...record, updatedAt: 0 }

  beforeAll(async () => {
    devnet = connectDevnet(inject('devnet'))
    upstream = await startExampleUpstream()
    gateway = await startTestGateway({
      config: devnetConfig({ devnet, upstreamUrl: upstream.url }),
    })
    ;[payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const client = devnet.clientFor(payer.privateKey)
    const session = tempo.session.manager({ client, maxDeposit: '1' })
    for (let i = 0; i < 2; i++)
      expect((await session.fetch(`${gateway.url}${paidPath}`)).status).toBe(200)
    channelId = session.channelId!
    const record = (await gateway.deps.ledger.get(channelId))!
    descriptor = { ...record.descriptor }
    cumulative = record.accepted.cumulative
  })

  afterAll(async () => {
    await gateway.stop()
    await upstream.close()
  })

  it('no Authorization: 402 payment-required with a challenge', async () => {
    await expectRefused({}, { status: 402, type: `${problems}payment-required` })
  })

  it('garbled Authorization: malformed-credential', async () => {
    await expectRefused(
      { headers: { authorization: 'Payment !!!not-base64!!!' } },
      { status: 402, type: `${problems}malformed-credential` },
    )
    await expectRefused(
      { headers: { authorization: `Payment ${encodeBase64url('{"challenge":{}}')}` } },
      { status: 402, type: `${problems}malformed-credential` },
    )
  })

  it('tampered request: invalid-challenge', async () => {
    const challenge = await freshChallenge()
    const request = decodeBase64urlJson(challenge.request!) as Record<string, unknown>
    const tampered = { ...challenge, request: encodeChallengeRequest({ ...request, amount: '1' }) }
    await expectRefused(
      {
        headers: {
          authorization: authorization(tampered, await voucherPayload(cumulative + 10_000n)),
        },
      },
      { status: 402, type: `${problems}invalid-challenge` },
    )
  })

  it('expired challenge: payment-expired', async () => {
    const challenge = await freshChallenge()
    const fields = withoutId(challenge)
    const expired = issueChallenge({
      key: challengeKey(testChallengeSecret),
      fields: {
        ...fields,
        expires: new Date(Date.now() - 1_000).toISOString(),
      },
    })
    await expectRefused(
      {
        headers: {
          authorization: authorization({ ...expired }, await voucherPayload(cumulative + 10_000n)),
        },
      },
      { status: 402, type: `${problems}payment-expired` },
    )
  })

  it('other realm or other secret: invalid-challenge', async () => {
    const challenge = await freshChallenge()
    const fields = withoutId(challenge)
    const otherRealm = issueChallenge({
      key: challengeKey(testChallengeSecret),
      fields: { ...fields, realm: 'other.example' },
    })
    await expectRefused(
      {
        headers: {
          authorization: authorization(
            { ...otherRealm },
            await voucherPayload(cumulative + 10_000n),
          ),
        },
      },
      { status: 402, type: `${problems}invalid-challenge` },
    )
    const otherSecret = issueChallenge({
      key: challengeKey('another-secret-that-is-also-32-bytes-long'),
      fields,
    })
    await expectRefused(
      {
        headers: {
          authorization: authorization(
            { ...otherSecret },
            await voucherPayload(cumulative + 10_000n),
          ),
        },
      },
      { status: 402, type: `${problems}invalid-challenge` },
    )
  })

  it.each([
    [
      'recipient',
      (r: Record<string, unknown>) => ({
        ...r,
        recipient: '0x000000000000000000000000000000000000dEaD',
      }),
    ],
    [
      'currency',
      (r: Record<string, unknown>) => ({
        ...r,
        currency: '0x20c0000000000000000000000000000000000002',
      }),
    ],
    [
      'chain',
      (r: Record<string, unknown>) => ({
        ...r,
        methodDetails: { ...(r.methodDetails as object), chainId: 4217 },
      }),
    ],
    [
      'escrow',
      (r: Record<string, unknown>) => ({
        ...r,
        methodDetails: {
          ...(r.methodDetails as object),
          escrowContract: '0x9d136eEa063eDE5418A6BC7bEafF009bBb6CFa70',
        },
      }),
    ],
  ])('challenge for another %s (validly signed): invalid-challenge', async (_name, change) => {
    const challenge = await freshChallenge()
    const fields = withoutId(challenge)
    const request = change(decodeBase64urlJson(challenge.request!) as Record<string, unknown>)
    const other = issueChallenge({
      key: challengeKey(testChallengeSecret),
      fields: {
        ...fields,
        request: encodeChallengeRequest(request),
      },
    })
    await expectRefused(
      {
        headers: {
          authorization: authorization({ ...other }, await voucherPayload(cumulative + 10_000n)),
        },
      },
      { status: 402, type: `${problems}invalid-challenge` },
    )
  })

  it('descriptor for another recipient: verification-failed', async () => {
    const challenge = await freshChallenge()
    const payload = {
      ...(await voucherPayload(cumulative + 10_000n)),
      descriptor: { ...descriptor, payee: payer.address },
    }
    await expectRefused(
      { headers: { authorization: authorization(challenge, payload) } },
      { status: 402, type: `${problems}verification-failed` },
    )
  })

  it('voucher below the highest, with no headroom held: insufficient-balance', async () => {
    // A lower voucher is served only from headroom the ledger already holds (docs/DESIGN.md);
    // this channel has spent all it accepted, so it buys nothing and changes nothing.
    const challenge = await freshChallenge()
    await expectRefused(
      {
        headers: { authorization: authorization(challenge, await voucherPayload(cumulative - 1n)) },
      },
      {
        status: 402,
        type: `${problems}session/insufficient-balance`,
        code: 'insufficient-balance',
      },
    )
  })

  it('voucher above the deposit: amount-exceeds-deposit', async () => {
    const challenge = await freshChallenge()
    await expectRefused(
      { headers: { authorization: authorization(challenge, await voucherPayload(5_000_000n)) } },
      { status: 402, type: `${problems}session/amount-exceeds-deposit` },
    )
  })

  it('bad signature: invalid-signature', async () => {
    const challenge = await freshChallenge()
    const payload = {
      ...(await voucherPayload(cumulative + 10_000n)),
      signature: `0x${'ab'.repeat(65)}`,
    }
    await expectRefused(
      { headers: { authorization: authorization(challenge, payload) } },
      { status: 402, type: `${problems}session/invalid-signature` },
    )
  })

  it('voucher signed by someone else: signer-mismatch', async () => {
    const [stranger] = (await devnet.newPayers(1, 0n)) as [DevnetKey]
    const challenge = await freshChallenge()
    await expectRefused(
      {
        headers: {
          authorization: authorization(
            challenge,
            await voucherPayload(cumulative + 10_000n, stranger.privateKey),
          ),
        },
      },
      { status: 402, type: `${problems}session/signer-mismatch` },
    )
  })

  it('unknown channel: 410 channel-not-found', async () => {
    const challenge = await freshChallenge()
    const unknown = { ...descriptor, salt: `0x${'77'.repeat(32)}` }
    const { channelIdOf } = await import('../../src/session/channel-id.js')
    const id = channelIdOf({
      descriptor: unknown as never,
      escrow: devnet.escrow,
      chainId: devnet.chainId,
    })
    const payload = {
      action: 'voucher',
      channelId: id,
      descriptor: unknown,
      cumulativeAmount: '10000',
      signature: await signVoucher(payer.privateKey, id, 10_000n),
    }
    await expectRefused(
      { headers: { authorization: authorization(challenge, payload) } },
      { status: 410, type: `${problems}session/channel-not-found` },
    )
  })

  it('oversized headers: 431, oversized body: 413', async () => {
    await expectRefused(
      { headers: { 'x-padding': 'a'.repeat(20_000) } },
      { status: 431, type: 'https://mpp-gateway.dev/problems/headers-too-large' },
    )
    const challenge = await freshChallenge()
    await expectRefused(
      {
        method: 'POST',
        path: '/v1/sql/execute',
        headers: {
          authorization: authorization(challenge, await voucherPayload(cumulative + 10_000n)),
          'content-type': 'application/json',
        },
        body: 'x'.repeat(2 * 1024 * 1024),
      },
      { status: 413, type: 'https://mpp-gateway.dev/problems/body-too-large' },
    )
  })

  it('an open transaction that calls something else: verification-failed', async () => {
    const challenge = await freshChallenge()
    const wallet = createWalletClient({
      account: privateKeyToAccount(payer.privateKey),
      chain: devnet.chain,
      transport: http(devnet.rpcUrl),
    })
    const request = await wallet.prepareTransactionRequest({
      calls: [
        {
          to: devnet.token,
          data: encodeFunctionData({
            abi: erc20Abi,
            functionName: 'transfer',
            args: [payer.address, 1n],
          }),
        },
      ],
      feeToken: devnet.feeToken,
      nonceKey: 'expiring',
    } as never)
    const transaction = await wallet.signTransaction(request as never)
    const payload = {
      action: 'open',
      type: 'transaction',
      channelId,
      transaction,
      descriptor,
      cumulativeAmount: '10000',
      signature: await signVoucher(payer.privateKey, channelId, 10_000n),
    }
    await expectRefused(
      { headers: { authorization: authorization(challenge, payload) } },
      { status: 402, type: `${problems}verification-failed` },
    )
  })

  it('a closed channel: 410 channel-finalized, and the gateway still serves others', async () => {
    const [other] = (await devnet.newPayers(1)) as [DevnetKey]
    const client = devnet.clientFor(other.privateKey)
    const session = tempo.session.manager({ client, maxDeposit: '1' })
    expect((await session.fetch(`${gateway.url}${paidPath}`)).status).toBe(200)
    const closedId = session.channelId!
    const closedRecord = (await gateway.deps.ledger.get(closedId))!
    await session.close()
    expect((await gateway.deps.ledger.get(closedId))!.status).toBe('finalized')

    const challenge = await freshChallenge()
    const amount = closedRecord.accepted.cumulative + 10_000n
    const payload = {
      action: 'voucher',
      channelId: closedId,
      descriptor: closedRecord.descriptor,
      cumulativeAmount: amount.toString(),
      signature: await signVoucher(other.privateKey, closedId, amount),
    }
    const seenBefore = upstream.seen.length
    const response = await fetch(`${gateway.url}${paidPath}`, {
      headers: { authorization: authorization(challenge, payload) },
    })
    expect(response.status).toBe(410)
    expect(((await response.json()) as Problem).type).toBe(`${problems}session/channel-finalized`)
    expect(upstream.seen.length).toBe(seenBefore)

    // The original channel still pays.
    const ok = await fetch(`${gateway.url}${paidPath}`, {
      headers: {
        authorization: authorization(
          await freshChallenge(),
          await voucherPayload(cumulative + 10_000n),
        ),
      },
    })
    expect(ok.status).toBe(200)
  })
})
