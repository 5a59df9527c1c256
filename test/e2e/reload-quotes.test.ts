/**
 * What happens to a challenge issued before a reload changed its route's price (gate/quotes.ts):
 * a payer that signed against it is charged the quoted price until the challenge expires, then
 * the fresh 402 states the new price. Also the memory ledger's own rate limiter, and reloading
 * when the file changes (`--watch-config`'s watcher).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { tempo } from 'mppx/client'
import { parseDocument } from 'yaml'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import { parsePaymentChallenges } from '../../src/protocol/auth-params.js'
import { decodeBase64urlJson } from '../../src/protocol/base64url.js'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import { createReloader, watchConfigFile } from '../../src/reload.js'
import { connectDevnet, type DevnetClient, type DevnetKey } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { devnetConfig, devnetEnv, memoryLogger, startTestGateway } from '../support/gateway.js'
import { fetchChallenge, voucherSigner } from '../support/vouchers.js'
import { until } from '../support/wait.js'

const paidPath = (id: string) => `/v1/execution/${id}/results`
/** routes[2] of config/devnet.yaml: GET /v1/execution/:id/results at 0.01. */
const route = 2

describe('quotes across a reload', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let gateway: Gateway
  let offsetMs = 0

  const config = (price: string, edit?: (doc: ReturnType<typeof parseDocument>) => void) =>
    devnetConfig({
      devnet,
      upstreamUrl: upstream.url,
      edit: (doc) => {
        doc.setIn(['routes', route, 'price'], price)
        edit?.(doc)
      },
    })

  beforeAll(async () => {
    devnet = connectDevnet(inject('devnet'))
    upstream = await startExampleUpstream()
    gateway = await startTestGateway({ config: config('0.01'), now: () => Date.now() + offsetMs })
  })
  afterAll(async () => {
    await gateway.stop()
    await upstream.close()
  })

  it('charges the quoted price for a challenge issued before the reload, until it expires', async () => {
    const [key] = (await devnet.newPayers(1)) as [DevnetKey]
    // The reload lands between mppx's 402 and its paid retry: the client signed at the old price.
    let reloadAfter402 = true
    const session = tempo.session.manager({
      client: devnet.clientFor(key.privateKey),
      maxDeposit: '1',
      fetch: async (input, init) => {
        const response = await fetch(input, init)
        if (response.status === 402 && reloadAfter402) {
          reloadAfter402 = false
          expect(gateway.deps.generations.apply(config('0.04')).generation).toBe(2)
        }
        return response
      },
    })
    const first = await session.fetch(`${gateway.url}${paidPath('q1')}`)
    expect(first.status).toBe(200)
    expect(reloadAfter402).toBe(false)
    expect(decodeReceipt(first.headers.get('payment-receipt')!)).toMatchObject({ spent: '10000' })
    // Its next request meets a fresh 402 at the new price.
    const second = await session.fetch(`${gateway.url}${paidPath('q2')}`)
    expect(second.status).toBe(200)
    expect(decodeReceipt(second.headers.get('payment-receipt')!)).toMatchObject({ spent: '50000' })

    // A challenge of the current configuration, then one more reload: it is quoted at 0.04.
    const record = (await gateway.deps.ledger.get(session.channelId!))!
    const quoted = await fetchChallenge(`${gateway.url}${paidPath('q3')}`)
    gateway.deps.generations.apply(config('0.05'))
    const signer = voucherSigner({
      payerKey: key.privateKey,
      chainId: devnet.chainId,
      escrow: devnet.escrow,
      channelId: record.channelId,
      descriptor: record.descriptor,
      challenge: quoted,
    })
    const pay = async (cumulative: bigint) => {
      const r = await fetch(`${gateway.url}${paidPath('q3')}`, {
        headers: { authorization: await signer.credential(cumulative) },
      })
      return {
        status: r.status,
        receipt: r.headers.get('payment-receipt'),
        challenge: r.headers.get('www-authenticate'),
        body: r.status === 200 ? await r.text() : await r.json(),
      }
    }
    const honoured = await pay(90_000n)
    expect(honoured.status).toBe(200)
    expect(decodeReceipt(honoured.receipt!)).toMatchObject({ spent: '90000' })
    const forwarded = upstream.seen.length

    // mppx posts its close to the URL it last paid with the challenge it last saw: a POST to a
    // GET route, whose challenge states the earlier price. It still finds its route and closes.
    const close = await fetch(`${gateway.url}${paidPath('q3')}`, {
      method: 'POST',
      headers: { authorization: await signer.closeCredential(90_000n) },
    })
    expect(close.status).toBe(204)
    expect(decodeReceipt(close.headers.get('payment-receipt')!)).toMatchObject({ spent: '90000' })
    expect(upstream.seen.length).toBe(forwarded)

    // Past the challenge's expiry (300 s) the quote is gone: the challenge states terms the route
    // no longer has, and the fresh 402 states 0.05; nothing is charged or forwarded.
    offsetMs = 301_000
    const expired = await pay(130_000n)
    expect(expired.status).toBe(402)
    expect(expired.body).toMatchObject({ code: 'invalid-challenge' })
    const [fresh] = parsePaymentChallenges(expired.challenge!)
    expect(decodeBase64urlJson(fresh!.request!)).toMatchObject({ amount: '50000' })
    expect(upstream.seen.length).toBe(forwarded)
    expect((await gateway.deps.ledger.get(record.channelId))!.spent).toBe(90_000n)
    offsetMs = 0
  })

  it('the memory ledger has its own rate limiter: the route rate holds in one process', async () => {
    gateway.deps.generations.apply(
      config('0.01', (doc) =>
        doc.setIn(['routes', route, 'rateLimit'], { perPayer: { requests: 2, perSeconds: 60 } }),
      ),
    )
    const [key] = (await devnet.newPayers(1)) as [DevnetKey]
    const session = tempo.session.manager({
      client: devnet.clientFor(key.privateKey),
      maxDeposit: '1',
    })
    const statuses = []
    for (const id of ['m1', 'm2', 'm3']) {
      const r = await session.fetch(`${gateway.url}${paidPath(id)}`)
      statuses.push([r.status, r.headers.get('retry-after')])
    }
    expect(statuses).toEqual([
      [200, null],
      [200, null],
      [429, '30'],
    ])
    expect(upstream.seen.filter((r) => r.url === paidPath('m3'))).toHaveLength(0)
  })

  it('keeps an unchanged upstream pool, and closes a replaced one only once no request holds it', async () => {
    const held = gateway.deps.generations.enter()
    const old = held.generation.upstreams.get('example')
    gateway.deps.generations.apply(config('0.01'))
    // Unchanged upstream: the next generation shares the pool (and its connections).
    expect(gateway.deps.generations.current().upstreams.get('example')).toBe(old)
    gateway.deps.generations.apply(
      config('0.01', (doc) => doc.setIn(['upstreams', 'example', 'connections'], 8)),
    )
    const replacement = gateway.deps.generations.current().upstreams.get('example')
    expect(replacement).not.toBe(old)
    expect(old.pool.closed).toBe(false)
    held.release()
    expect(old.pool.closed).toBe(true)
    expect(replacement.pool.closed).toBe(false)
    const r = await fetch(`${gateway.url}/v1/execution/x/status`)
    expect(r.status).toBe(200)
    await r.body?.cancel()
  })

  it('reloads when the watched file changes (debounced), and not for other files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mppgw-watch-'))
    const file = join(dir, 'gateway.yaml')
    const text = (price: string) => {
      const doc = parseDocument(readDevnetYaml())
      doc.setIn(['routes', route, 'price'], price)
      return doc.toString()
    }
    writeFileSync(file, text('0.01'))
    const { logger } = memoryLogger()
    const reloader = createReloader({
      path: file,
      env: devnetEnv(devnet, upstream.url),
      generations: gateway.deps.generations,
      metrics: gateway.deps.metrics,
      logger,
    })
    const triggers: string[] = []
    const watcher = watchConfigFile({
      path: file,
      debounceMs: 100,
      onChange: () => {
        triggers.push('change')
        reloader.reload('file-change')
      },
      logger,
    })
    try {
      const before = gateway.deps.generations.current().number
      writeFileSync(join(dir, 'other.yaml'), 'not watched')
      // Several writes in a burst: one reload once the file is quiet.
      writeFileSync(file, text('0.06'))
      writeFileSync(file, text('0.07'))
      await until('the reload', async () =>
        gateway.deps.generations.current().number > before ? true : undefined,
      )
      expect(gateway.deps.generations.current().number).toBe(before + 1)
      expect(triggers).toEqual(['change'])
      const r = await fetch(`${gateway.url}${paidPath('w')}`)
      expect(((await r.json()) as { details: { price: string } }).details.price).toBe('70000')
    } finally {
      watcher.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

function readDevnetYaml(): string {
  return readFileSync(new URL('../../config/devnet.yaml', import.meta.url), 'utf8')
}
