/**
 * One-shot payments end to end: the devnet chain, the real mppx client paying with
 * `tempo.charge` (pull mode: it signs the transfer, the gateway broadcasts it), two gateways
 * sharing one real Redis ledger, and a loopback upstream that fails on cue.
 *
 * What a buyer paying per request must be able to rely on:
 * - ten paid requests move exactly ten prices to the payee on chain, each request reaches the
 *   upstream once, and each answer's receipt names the transaction that paid it;
 * - a charge credential pays once: replayed to the other gateway (one Redis) or the same one, it
 *   is refused before the upstream, and nothing moves on chain; sent to both at once, it is
 *   served once;
 * - an upstream 500 leaves the payer uncharged on chain (nothing is broadcast), and the credential
 *   it brought may pay a retry instead;
 * - `Accept-Payment: tempo/charge` gets only the charge challenge, and the client pays with it;
 * - a transfer of another amount, or one the payer cannot fund, is refused before the upstream
 *   and claims nothing;
 * - push mode (the client broadcasts first) is settled before the upstream is asked: an upstream
 *   500 is still paid, and the hash pays once.
 */
import { Mppx, tempo } from 'mppx/client'
import {
  concatHex,
  encodeFunctionData,
  getAddress,
  keccak256,
  maxUint256,
  parseAbi,
  stringToBytes,
  type Hex,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import { parsePaymentChallenges } from '../../src/protocol/auth-params.js'
import { encodeBase64url } from '../../src/protocol/base64url.js'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import { connectDevnet, type DevnetClient, type DevnetKey } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { devnetConfig, memoryLogger, startTestGateway } from '../support/gateway.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'

/** config/devnet.yaml's results route, its price in base units (pathUSD, 6 decimals). */
const price = 10_000n
const resultsPath = (marker: string) => `/v1/execution/${marker}/results`

describe('mppx tempo.charge through two gateways on one Redis', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let redis: RedisServer
  let payee: DevnetKey
  let a: Gateway
  let b: Gateway
  const logA = memoryLogger()

  beforeAll(async () => {
    devnet = connectDevnet(inject('devnet'))
    upstream = await startExampleUpstream()
    redis = await startRedisServer({ appendonly: true, appendfsync: 'always' })
    // A payee of its own, so its balance moves only with this suite's payments.
    ;[payee] = (await devnet.newPayers(1)) as [DevnetKey]
    const config = devnetConfig({
      devnet,
      upstreamUrl: upstream.url,
      extraEnv: { DEVNET_PAYEE_ADDRESS: payee.address, DEVNET_PAYEE_KEY: payee.privateKey },
      edit: (doc) => {
        doc.setIn(['tempoCharge'], { enabled: true })
        doc.setIn(['ledger'], {
          type: 'redis',
          redis: { url: redis.url, keyPrefix: 'charge:', requireDurable: true },
        })
        doc.setIn(['settlement', 'enabled'], false)
      },
    })
    ;[a, b] = await Promise.all([
      startTestGateway({ config, logger: logA.logger }),
      startTestGateway({ config }),
    ])
  })
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await redis?.stop()
    await upstream?.close()
  })

  /** A funded payer and an mppx client that pays with `tempo.charge` only, recording what it sends. */
  async function chargeClient() {
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const sent: { url: string; authorization: string | null; acceptPayment: string | null }[] = []
    const mppx = Mppx.create({
      polyfill: false,
      methods: [tempo.charge({ getClient: () => devnet.clientFor(payer.privateKey) })],
      fetch: async (input, init) => {
        const headers = new Headers(init?.headers)
        sent.push({
          url: typeof input === 'string' ? input : input instanceof URL ? input.href : input.url,
          authorization: headers.get('authorization'),
          acceptPayment: headers.get('accept-payment'),
        })
        return fetch(input, init)
      },
    })
    return { payer, mppx, sent }
  }

  /** A charge challenge of `url`, as the gateway states it. */
  async function chargeChallenge(url: string): Promise<Record<string, string>> {
    const response = await fetch(url, { headers: { 'accept-payment': 'tempo/charge' } })
    expect(response.status).toBe(402)
    const [challenge] = parsePaymentChallenges(response.headers.get('www-authenticate') ?? '')
    return challenge!
  }

  /**
   * A credential for `challenge` whose transaction, signed by `key`, transfers `amount` to the
   * payee with the memo mppx would write (the layout of mppx 0.11's attribution memo).
   */
  async function handMadeCredential(options: {
    challenge: Record<string, string>
    key: Hex
    amount: bigint
  }): Promise<string> {
    const { challenge } = options
    const bytes = (text: string, n: number): Hex =>
      `0x${keccak256(stringToBytes(text)).slice(2, 2 + n * 2)}`
    const memo = concatHex([
      bytes('mpp', 4),
      '0x01',
      bytes(challenge.realm!, 10),
      `0x${'00'.repeat(10)}`,
      bytes(challenge.id!, 7),
    ])
    const account = privateKeyToAccount(options.key)
    // Signed offline with explicit gas and fees: filling it in through the RPC would simulate
    // it, and an unfundable transfer would never get signed.
    const fees = await devnet.publicClient.estimateFeesPerGas()
    const signature = await account.signTransaction(
      {
        type: 'tempo',
        chainId: devnet.chainId,
        calls: [
          {
            to: devnet.token,
            data: encodeFunctionData({
              abi: parseAbi([
                'function transferWithMemo(address to, uint256 amount, bytes32 memo)',
              ]),
              functionName: 'transferWithMemo',
              args: [payee.address, options.amount, memo],
            }),
          },
        ],
        gas: 1_000_000n,
        maxFeePerGas: fees.maxFeePerGas,
        maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
        feeToken: devnet.feeToken,
        nonceKey: maxUint256,
        nonce: 0,
        validBefore: Math.floor(Date.now() / 1000) + 25,
      } as never,
      { serializer: devnet.chain.serializers!.transaction as never },
    )
    return `Payment ${encodeBase64url(
      JSON.stringify({
        challenge,
        payload: { type: 'transaction', signature },
        source: `did:pkh:eip155:${devnet.chainId}:${account.address}`,
      }),
    )}`
  }

  const seenCount = (marker: string) =>
    upstream.seen.filter((r) => r.url.startsWith(resultsPath(marker))).length

  it('ten paid requests: the payee gains exactly ten prices, the upstream sees each once', async () => {
    const { payer, mppx, sent } = await chargeClient()
    const payeeBefore = await devnet.balance(payee.address)
    const payerBefore = await devnet.balance(payer.address)
    const markers = Array.from({ length: 10 }, (_, i) => `ten-${i}`)
    const references: string[] = []
    for (const marker of markers) {
      const response = await mppx.fetch(`${a.url}${resultsPath(marker)}`)
      expect(response.status).toBe(200)
      await response.text()
      const receipt = decodeReceipt(response.headers.get('payment-receipt') ?? '')
      expect(receipt).toMatchObject({ method: 'tempo', intent: 'charge', status: 'success' })
      references.push(String(receipt.reference))
    }
    // Each receipt names its own transaction, and each one is on chain and paid the price.
    expect(new Set(references).size).toBe(10)
    for (const hash of references) {
      const onChain = await devnet.publicClient.getTransactionReceipt({ hash: hash as Hex })
      expect(onChain.status).toBe('success')
    }
    expect(await devnet.balance(payee.address)).toBe(payeeBefore + 10n * price)
    // The payer paid ten prices (and its fees, in whichever token the chain charged them).
    expect(await devnet.balance(payer.address)).toBeLessThanOrEqual(payerBefore - 10n * price)
    expect(Object.fromEntries(markers.map((m) => [m, seenCount(m)]))).toEqual(
      Object.fromEntries(markers.map((m) => [m, 1])),
    )
    // mppx told the gateway it pays by charge, and the upstream never saw a payment header.
    expect(sent.every((s) => s.acceptPayment === 'tempo/charge')).toBe(true)
    for (const seen of upstream.seen.filter((r) => r.url.startsWith('/v1/execution/ten-'))) {
      expect(seen.headers.authorization).toBeUndefined()
      expect(seen.headers['payment-receipt']).toBeUndefined()
    }
    const paid = logA.lines.filter((l) => l.msg === 'request' && l.action === 'charge')
    expect(paid.map((l) => [l.status, l.charge, l.charged])).toEqual(
      markers.map(() => [200, 'committed', price.toString()]),
    )
  })

  it('a replayed charge credential is refused on the other gateway and on the same one', async () => {
    const { mppx, sent } = await chargeClient()
    const first = await mppx.fetch(`${a.url}${resultsPath('replay')}`)
    expect(first.status).toBe(200)
    const txHash = String(decodeReceipt(first.headers.get('payment-receipt') ?? '').reference)
    const credential = sent.find((s) => s.authorization?.startsWith('Payment '))?.authorization
    expect(credential).toBeDefined()
    const payeeBefore = await devnet.balance(payee.address)

    for (const gateway of [b, a]) {
      const replay = await fetch(`${gateway.url}${resultsPath('replay')}`, {
        headers: { authorization: credential! },
      })
      expect(replay.status).toBe(402)
      expect(replay.headers.get('payment-receipt')).toBeNull()
      expect(await replay.json()).toMatchObject({
        code: 'payment-already-used',
        details: { txHash },
      })
    }
    expect(seenCount('replay')).toBe(1)
    expect(await devnet.balance(payee.address)).toBe(payeeBefore)
  })

  it('one credential sent to both gateways at once is served once and paid once', async () => {
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const path = resultsPath('race')
    const authorization = await handMadeCredential({
      challenge: await chargeChallenge(`${a.url}${path}`),
      key: payer.privateKey,
      amount: price,
    })
    const payeeBefore = await devnet.balance(payee.address)
    const answers = await Promise.all(
      [a, b, a, b].map(async (gateway) => {
        const response = await fetch(`${gateway.url}${path}`, { headers: { authorization } })
        const body = await response.text()
        return response.status === 200
          ? 'served'
          : `${response.status} ${(JSON.parse(body) as { code: string }).code}`
      }),
    )
    expect(answers.sort()).toEqual([
      '402 payment-already-used',
      '402 payment-already-used',
      '402 payment-already-used',
      'served',
    ])
    expect(seenCount('race')).toBe(1)
    expect(await devnet.balance(payee.address)).toBe(payeeBefore + price)
  })

  it('an upstream 500 leaves the payer uncharged on chain; the credential pays a retry', async () => {
    const { payer, mppx, sent } = await chargeClient()
    const payeeBefore = await devnet.balance(payee.address)
    const payerBefore = await devnet.balance(payer.address)
    const feesBefore = await devnet.balance(payer.address, devnet.feeToken)
    upstream.script((request) =>
      request.url.startsWith(resultsPath('fails')) ? { kind: 'status', status: 500 } : undefined,
    )
    const failed = await mppx.fetch(`${a.url}${resultsPath('fails')}`)
    upstream.script(undefined)
    expect(failed.status).toBe(500)
    expect(failed.headers.get('payment-receipt')).toBeNull()
    await failed.text()
    expect(seenCount('fails')).toBe(1)
    // Nothing was broadcast: neither the price nor a fee left the payer.
    expect(await devnet.balance(payer.address)).toBe(payerBefore)
    expect(await devnet.balance(payer.address, devnet.feeToken)).toBe(feesBefore)
    expect(await devnet.balance(payee.address)).toBe(payeeBefore)

    // The claim was given back: the same unbroadcast credential pays the retry, on the other
    // gateway, exactly once.
    const credential = sent.find((s) => s.authorization?.startsWith('Payment '))?.authorization
    const retry = await fetch(`${b.url}${resultsPath('fails')}`, {
      headers: { authorization: credential! },
    })
    expect(retry.status).toBe(200)
    expect(decodeReceipt(retry.headers.get('payment-receipt') ?? '')).toMatchObject({
      intent: 'charge',
    })
    expect(await devnet.balance(payee.address)).toBe(payeeBefore + price)
    expect(seenCount('fails')).toBe(2)
  })

  it('Accept-Payment: tempo/charge gets only the charge challenge, and pays with it', async () => {
    const url = `${a.url}${resultsPath('accept')}`
    const both = await fetch(url)
    expect(both.status).toBe(402)
    expect(
      parsePaymentChallenges(both.headers.get('www-authenticate') ?? '').map(
        (c) => `${c.method}/${c.intent}`,
      ),
    ).toEqual(['tempo/session', 'tempo/charge'])

    const only = await fetch(url, { headers: { 'accept-payment': 'tempo/charge' } })
    expect(only.status).toBe(402)
    const [challenge, ...others] = parsePaymentChallenges(
      only.headers.get('www-authenticate') ?? '',
    )
    expect(others).toEqual([])
    expect(challenge).toMatchObject({ method: 'tempo', intent: 'charge' })
    expect(JSON.parse(Buffer.from(challenge!.request!, 'base64url').toString())).toEqual({
      amount: price.toString(),
      currency: getAddress(devnet.token),
      recipient: payee.address,
      methodDetails: { chainId: devnet.chainId },
    })

    const { mppx, sent } = await chargeClient()
    const payeeBefore = await devnet.balance(payee.address)
    const paid = await mppx.fetch(url, { headers: { 'accept-payment': 'tempo/charge' } })
    expect(paid.status).toBe(200)
    expect(sent.map((s) => s.acceptPayment)).toEqual(['tempo/charge', 'tempo/charge'])
    expect(await devnet.balance(payee.address)).toBe(payeeBefore + price)
    expect(seenCount('accept')).toBe(1)
  })

  it('a transfer of another amount, or one the payer cannot fund, is refused before the upstream', async () => {
    const url = `${a.url}${resultsPath('refused')}`
    const [funded] = (await devnet.newPayers(1)) as [DevnetKey]
    const [broke] = (await devnet.newPayers(1, 0n)) as [DevnetKey]
    await devnet.fundFees(broke.address)
    const payeeBefore = await devnet.balance(payee.address)

    const short = await handMadeCredential({
      challenge: await chargeChallenge(url),
      key: funded.privateKey,
      amount: price - 1n,
    })
    const unfunded = await handMadeCredential({
      challenge: await chargeChallenge(url),
      key: broke.privateKey,
      amount: price,
    })
    const answers = []
    for (const authorization of [short, unfunded]) {
      const response = await fetch(url, { headers: { authorization } })
      const body = (await response.json()) as { code: string }
      answers.push([response.status, body.code, response.headers.has('www-authenticate')])
    }
    expect(answers).toEqual([
      [402, 'verification-failed', true],
      [402, 'transaction-rejected', true],
    ])
    expect(seenCount('refused')).toBe(0)
    expect(await devnet.balance(payee.address)).toBe(payeeBefore)

    // Nothing was claimed by the refusals: a correct credential of the same payer pays.
    const right = await handMadeCredential({
      challenge: await chargeChallenge(url),
      key: funded.privateKey,
      amount: price,
    })
    const paid = await fetch(url, { headers: { authorization: right } })
    expect(paid.status).toBe(200)
    expect(await devnet.balance(payee.address)).toBe(payeeBefore + price)
  })

  it('push mode is settled before the upstream: a 500 is paid, and the hash pays once', async () => {
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const sent: string[] = []
    const mppx = Mppx.create({
      polyfill: false,
      methods: [
        tempo.charge({ getClient: () => devnet.clientFor(payer.privateKey), mode: 'push' }),
      ],
      fetch: async (input, init) => {
        const authorization = new Headers(init?.headers).get('authorization')
        if (authorization) sent.push(authorization)
        return fetch(input, init)
      },
    })
    const payeeBefore = await devnet.balance(payee.address)
    const ok = await mppx.fetch(`${a.url}${resultsPath('push-ok')}`)
    expect(ok.status).toBe(200)
    expect(decodeReceipt(ok.headers.get('payment-receipt') ?? '')).toMatchObject({
      intent: 'charge',
    })
    upstream.script((request) =>
      request.url.startsWith(resultsPath('push-500')) ? { kind: 'status', status: 500 } : undefined,
    )
    const failed = await mppx.fetch(`${a.url}${resultsPath('push-500')}`)
    upstream.script(undefined)
    // Paid before the upstream was asked: the 500 carries the receipt of the transfer.
    expect(failed.status).toBe(500)
    expect(decodeReceipt(failed.headers.get('payment-receipt') ?? '')).toMatchObject({
      intent: 'charge',
    })
    expect(await devnet.balance(payee.address)).toBe(payeeBefore + 2n * price)

    const replay = await fetch(`${b.url}${resultsPath('push-ok')}`, {
      headers: { authorization: sent[0]! },
    })
    expect(replay.status).toBe(402)
    expect(((await replay.json()) as { code: string }).code).toBe('payment-already-used')
    expect(seenCount('push-ok')).toBe(1)
    expect(seenCount('push-500')).toBe(1)
  })

  it('a transfer the chain refuses once the upstream served: 402 payment-failed, the answer withheld', async () => {
    // An upstream that holds each request until the test lets it answer 200: meanwhile the payer
    // moves its funds away, so the transfer it signed can no longer pay.
    const arrived: (() => void)[] = []
    const releases: (() => void)[] = []
    const held = createServer((request, response) => {
      request.resume()
      releases.push(() => response.writeHead(200, { 'content-type': 'text/plain' }).end('served'))
      arrived.shift()?.()
    })
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve))
    const heldUrl = `http://127.0.0.1:${(held.address() as AddressInfo).port}`
    const gateway = await startTestGateway({
      config: devnetConfig({
        devnet,
        upstreamUrl: heldUrl,
        extraEnv: { DEVNET_PAYEE_ADDRESS: payee.address, DEVNET_PAYEE_KEY: payee.privateKey },
        edit: (doc) => {
          doc.setIn(['tempoCharge'], { enabled: true })
          doc.setIn(['settlement', 'enabled'], false)
        },
      }),
    })
    try {
      const [payer, sink] = (await devnet.newPayers(2)) as [DevnetKey, DevnetKey]
      const url = `${gateway.url}${resultsPath('drained')}`
      const authorization = await handMadeCredential({
        challenge: await chargeChallenge(url),
        key: payer.privateKey,
        amount: price,
      })
      const payeeBefore = await devnet.balance(payee.address)
      const reachedUpstream = new Promise<void>((resolve) => arrived.push(resolve))
      const answer = fetch(url, { headers: { authorization } })
      await reachedUpstream
      await devnet.write(payer.privateKey, {
        address: devnet.token,
        abi: parseAbi(['function transfer(address to, uint256 amount) returns (bool)']),
        functionName: 'transfer',
        args: [sink.address, await devnet.balance(payer.address)],
      })
      releases.shift()?.()
      const response = await answer
      const body = (await response.json()) as { code: string; details?: { txHash?: string } }
      expect([response.status, body.code]).toEqual([402, 'payment-failed'])
      expect(body.details?.txHash).toMatch(/^0x[0-9a-f]{64}$/)
      expect(response.headers.get('payment-receipt')).toBeNull()
      expect(response.headers.get('www-authenticate')).toContain('intent="charge"')
      expect(await devnet.balance(payee.address)).toBe(payeeBefore)
      expect(releases).toEqual([])
    } finally {
      await gateway.stop()
      held.closeAllConnections()
      await new Promise<void>((resolve) => held.close(() => resolve()))
    }
  })
})
