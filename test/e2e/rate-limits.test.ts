/**
 * Rate limits across two gateway instances on one real Redis: a route's per-payer and
 * per-channel rates and the per-client challenge rate hold in total, not per instance; every
 * request over a limit is answered 429 with Retry-After, is not forwarded, and charges nothing.
 */
import { tempo } from 'mppx/client'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { connectDevnet, type DevnetClient, type DevnetKey } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { devnetConfig, startTestGateway } from '../support/gateway.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { fetchChallenge, voucherSigner } from '../support/vouchers.js'

const price = 10_000n
/** routes[2]: GET /v1/execution/:id/results, 0.01. */
const payerRoute = 2
/** routes[3]: GET /v1/execution/:id/results/csv, 0.01. */
const channelRoute = 3

describe('rate limits shared through Redis by two instances', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let redis: RedisServer
  let ledger: RedisLedger
  let gateways: Gateway[] = []

  const start = (prefix: string, edit: (doc: { setIn(p: unknown[], v: unknown): void }) => void) =>
    Promise.all(
      [0, 1].map(() =>
        startTestGateway({
          config: devnetConfig({
            devnet,
            upstreamUrl: upstream.url,
            edit: (doc) => {
              doc.setIn(['ledger'], { type: 'redis', redis: { url: redis.url, keyPrefix: prefix } })
              doc.setIn(['session', 'suggestedDeposit'], '1')
              doc.setIn(['settlement', 'enabled'], false)
              edit(doc)
            },
          }),
        }),
      ),
    )

  beforeAll(async () => {
    devnet = connectDevnet(inject('devnet'))
    upstream = await startExampleUpstream()
    redis = await startRedisServer()
    ledger = await createRedisLedger({ url: redis.url, keyPrefix: 'limits:' })
  })
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()))
    await ledger.close()
    await redis.stop()
    await upstream.close()
  })

  /** Opens a channel on `url` with mppx (one paid request) and returns a voucher signer for it. */
  async function openChannel(url: string, path: string) {
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '1',
    })
    expect((await session.fetch(`${url}${path}`)).status).toBe(200)
    const record = (await ledger.get(session.channelId!))!
    const signer = voucherSigner({
      payerKey: payer.privateKey,
      chainId: devnet.chainId,
      escrow: devnet.escrow,
      channelId: record.channelId,
      descriptor: record.descriptor,
      challenge: await fetchChallenge(`${url}${path}`),
    })
    return { record, signer }
  }

  /** Sends vouchers `from`..`to` (in prices) at once, alternating between the two instances. */
  async function race(
    path: string,
    signer: { credential(c: bigint): Promise<string> },
    from: number,
    to: number,
  ) {
    const credentials = await Promise.all(
      Array.from({ length: to - from + 1 }, (_, i) => signer.credential(BigInt(from + i) * price)),
    )
    return Promise.all(
      credentials.map((authorization, i) =>
        fetch(`${gateways[i % 2]!.url}${path}`, { headers: { authorization } }).then(async (r) => ({
          status: r.status,
          receipt: r.headers.get('payment-receipt'),
          retryAfter: r.headers.get('retry-after'),
          challenge: r.headers.get('www-authenticate'),
          body: r.status === 429 ? await r.json() : await r.text(),
        })),
      ),
    )
  }

  const forwardedTo = (prefix: string) =>
    upstream.seen.filter((r) => r.url.startsWith(prefix)).length

  it('a per-payer and a per-channel rate hold in total; nothing over them is charged or forwarded', async () => {
    gateways = await start('limits:', (doc) => {
      doc.setIn(['routes', payerRoute, 'rateLimit'], {
        perPayer: { requests: 4, perSeconds: 3600 },
      })
      doc.setIn(['routes', channelRoute, 'rateLimit'], {
        perChannel: { requests: 3, perSeconds: 3600 },
      })
    })
    for (const [path, limit, allowed] of [
      ['/v1/execution/p/results', 'perPayer', 4],
      ['/v1/execution/c/results/csv', 'perChannel', 3],
    ] as const) {
      const before = forwardedTo(path)
      // The open is the first request the rate counts (on instance 0).
      const { record, signer } = await openChannel(gateways[0]!.url, path)
      const answers = await race(path, signer, 2, 11)
      const served = answers.filter((a) => a.status === 200)
      const limited = answers.filter((a) => a.status === 429)
      expect(served).toHaveLength(allowed - 1)
      expect(limited).toHaveLength(10 - (allowed - 1))
      for (const a of limited) {
        expect(a.body).toMatchObject({ code: 'rate-limited', details: { limit } })
        // A whole hour's rate: the next slot is 3600 / allowed seconds away.
        expect(Number(a.retryAfter)).toBe(Math.ceil(3600 / allowed))
        expect(a.receipt).toBeNull()
        expect(a.challenge).toBeNull()
      }
      const after = (await ledger.get(record.channelId))!
      expect(after.spent).toBe(BigInt(allowed) * price)
      expect(after.units).toBe(allowed)
      expect(after.reserved).toBe(0n)
      expect(forwardedTo(path) - before).toBe(allowed)
    }
    // Each instance counts its own refusals; together they are every refusal.
    const refused = await Promise.all(
      gateways.map(async (g) =>
        Number(
          /mppgw_rate_limited_total\{limit="perPayer"\} (\d+)/.exec(
            await g.deps.metrics.render(),
          )?.[1] ?? 0,
        ),
      ),
    )
    expect(refused.reduce((a, b) => a + b, 0)).toBe(10 - 3)
  })

  it('challenges per client address hold in total across the instances', async () => {
    const more = await start('limits2:', (doc) => {
      doc.setIn(['limits', 'challengesPerClient'], { requests: 5, perSeconds: 3600 })
    })
    gateways.push(...more)
    const answers = []
    for (let i = 0; i < 8; i++) {
      const r = await fetch(`${more[i % 2]!.url}/v1/execution/q/results`)
      answers.push({
        status: r.status,
        challenge: r.headers.get('www-authenticate'),
        retryAfter: r.headers.get('retry-after'),
      })
      await r.body?.cancel()
    }
    expect(answers.map((a) => a.status)).toEqual([402, 402, 402, 402, 402, 429, 429, 429])
    for (const a of answers.slice(5)) {
      expect(a.challenge).toBeNull()
      expect(Number(a.retryAfter)).toBe(720)
    }
    expect(forwardedTo('/v1/execution/q/')).toBe(0)
  })

  it('behind a trusted proxy the client is the nearest untrusted X-Forwarded-For address', async () => {
    const gateway = await startTestGateway({
      config: devnetConfig({
        devnet,
        upstreamUrl: upstream.url,
        edit: (doc) => {
          doc.setIn(['server', 'trustedProxies'], ['127.0.0.1', '10.0.0.0/8'])
          doc.setIn(['limits', 'challengesPerClient'], { requests: 1, perSeconds: 3600 })
        },
      }),
    })
    gateways.push(gateway)
    const status = async (forwardedFor: string) => {
      const r = await fetch(`${gateway.url}/v1/execution/x/results`, {
        headers: { 'x-forwarded-for': forwardedFor },
      })
      await r.body?.cancel()
      return r.status
    }
    expect(await status('198.51.100.1')).toBe(402)
    expect(await status('198.51.100.1')).toBe(429)
    // A claim further left does not make another client; a trusted hop is skipped.
    expect(await status('203.0.113.9, 198.51.100.1, 10.1.2.3')).toBe(429)
    expect(await status('198.51.100.2')).toBe(402)
  })
})
