/**
 * A buyer's run on a mixed-price API, end to end: the devnet chain, the real mppx session client,
 * the gateway, and a loopback upstream that fails on cue (500, 400, a hang past the gateway's
 * headers timeout, a connection reset before any head), at positions drawn from a fixed seed.
 *
 * What a payer must be able to rely on, whatever the upstream does:
 * - every answer to a paid request (credential accepted) carries a `Payment-Receipt` whose `spent`
 *   is the true running total: `on-success` routes charged only when served, `always` routes
 *   charged whatever the status;
 * - so the client never falls behind the gateway's accepted voucher: no 402 in answer to a
 *   credential, only the challenge each request's unpaid probe gets;
 * - each answer's status follows from the upstream's behaviour (relayed, 504, 502);
 * - the upstream sees each forwarded request exactly once;
 * - `close` succeeds, and on chain the payee gains exactly the charged total while the payer gets
 *   the rest of its deposit back.
 */
import { tempo } from 'mppx/client'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import { connectDevnet, type DevnetKey } from '../devnet/devnet.js'
import { startDevnetGateway, type DevnetGateway } from '../support/devnet-gateway.js'
import type { UpstreamBehaviour } from '../support/example-upstream.js'
import { memoryLogger } from '../support/gateway.js'

type RouteName = 'execute' | 'results' | 'csv' | 'status'
type UpstreamScript = 'ok' | 500 | 400 | 'timeout' | 'reset'
type Step = { readonly route: RouteName; readonly upstream: UpstreamScript }

/** The routes of config/devnet.yaml, repriced: three prices, one `charge: always`, one free. */
const routes = {
  execute: { path: '/v1/sql/execute', price: '0.0137', amount: 13_700n, always: false },
  results: { path: '/v1/execution/:id/results', price: '0.002', amount: 2_000n, always: false },
  csv: { path: '/v1/execution/:id/results/csv', price: '0.0051', amount: 5_100n, always: true },
  status: { path: '/v1/execution/:id/status', price: 'free', amount: 0n, always: false },
} as const satisfies Record<
  RouteName,
  { path: string; price: string; amount: bigint; always: boolean }
>

/** Short, so a hung upstream costs little wall time; the hang itself lasts until released. */
const headersTimeoutMs = 400

/** mulberry32: a tiny seeded PRNG, so the failure positions are the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function seededSteps(seed: number, count: number): Step[] {
  const random = mulberry32(seed)
  const pick = <T>(weighted: readonly (readonly [T, number])[]): T => {
    let r = random() * weighted.reduce((sum, [, w]) => sum + w, 0)
    for (const [value, weight] of weighted) {
      r -= weight
      if (r < 0) return value
    }
    return weighted[weighted.length - 1]![0]
  }
  const steps = Array.from({ length: count }, (): Step => {
    const route = pick<RouteName>([
      ['execute', 3],
      ['results', 4],
      ['csv', 3],
      ['status', 1],
    ])
    const upstream = pick<UpstreamScript>([
      ['ok', 60],
      [500, 12],
      [400, 10],
      ['timeout', 9],
      ['reset', 9],
    ])
    return { route, upstream }
  })
  // mppx posts its close to the URL of the last request it made, with the challenge of the last
  // priced one: ending on the free route makes that URL one with no priced route, which the
  // gateway must still take the close on (the route of the close's challenge).
  return [...steps, { route: 'status', upstream: 'ok' }]
}

/** The plain sequence of the issue: cheaper requests after a failed dearer one. */
const issueSteps: readonly Step[] = [
  { route: 'results', upstream: 'ok' },
  { route: 'execute', upstream: 500 },
  { route: 'results', upstream: 'ok' },
  { route: 'csv', upstream: 500 },
]

/** What the gateway must answer for a step, and what it charges for it. */
function expectedOutcome(step: Step): {
  status: number
  code: string | undefined
  outcome: string
  charged: bigint
} {
  const route = routes[step.route]
  const served = step.upstream === 'ok'
  const charged = route.always || served ? route.amount : 0n
  switch (step.upstream) {
    case 'ok':
      return { status: 200, code: undefined, outcome: 'forwarded', charged }
    case 500:
    case 400:
      return { status: step.upstream, code: undefined, outcome: 'forwarded', charged }
    case 'timeout':
      return { status: 504, code: 'upstream-timeout', outcome: 'upstream-timeout', charged }
    case 'reset':
      return { status: 502, code: 'upstream-unavailable', outcome: 'upstream-unavailable', charged }
  }
}

function behaviourOf(script: UpstreamScript): UpstreamBehaviour | undefined {
  switch (script) {
    case 'ok':
      return undefined
    case 500:
    case 400:
      return { kind: 'status', status: script }
    case 'timeout':
      return { kind: 'hang' }
    case 'reset':
      return { kind: 'reset' }
  }
}

/** The marker a forwarded request carries: the execution id, or `m=` on the execute call. */
function markerOf(url: string): string | undefined {
  return /(?:\/execution\/|[?&]m=)([a-z]+-\d+)/.exec(url)?.[1]
}

function requestFor(step: Step, marker: string): [string, RequestInit] {
  switch (step.route) {
    case 'execute':
      return [
        `/v1/sql/execute?m=${marker}`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-request-id': marker },
          body: JSON.stringify({ query_sql: `select '${marker}'` }),
        },
      ]
    case 'results':
      return [`/v1/execution/${marker}/results`, { headers: { 'x-request-id': marker } }]
    case 'csv':
      return [`/v1/execution/${marker}/results/csv`, { headers: { 'x-request-id': marker } }]
    case 'status':
      return [`/v1/execution/${marker}/status`, { headers: { 'x-request-id': marker } }]
  }
}

type Row = {
  step: string
  status: number | string
  code: string | undefined
  spent: string | null
}

describe('the real mppx client on a mixed-price API with a failing upstream', () => {
  let env: DevnetGateway
  let payee: DevnetKey
  const log = memoryLogger()

  beforeAll(async () => {
    // A payee of its own, so its balance moves only with this suite's channels.
    const [fresh] = await connectDevnet(inject('devnet')).newPayers(1)
    payee = fresh!
    env = await startDevnetGateway({
      logger: log.logger,
      // The close goes through the chain thread, as in production.
      chainThread: true,
      extraEnv: { DEVNET_PAYEE_ADDRESS: payee.address, DEVNET_PAYEE_KEY: payee.privateKey },
      edit: (doc) => {
        const table = (doc.toJS() as { routes: { path: string }[] }).routes
        for (const route of Object.values(routes)) {
          const index = table.findIndex((r) => r.path === route.path)
          doc.setIn(['routes', index, 'price'], route.price)
          if (route.always) doc.setIn(['routes', index, 'charge'], 'always')
        }
        doc.setIn(['upstreams', 'example', 'headersTimeoutMs'], headersTimeoutMs)
        // The close is then the only settlement: no settle lands mid-run, and a close never
        // meets a settlement in flight (channel-busy), so the figures on chain are exact.
        doc.setIn(['settlement', 'enabled'], false)
      },
    })
  })
  afterAll(async () => {
    env?.upstream.releaseHeld()
    await env?.stop()
  })

  /** Runs `steps` as one payer's session and checks everything the payer must rely on. */
  async function payAndCheck(name: string, steps: readonly Step[]): Promise<void> {
    const { devnet, upstream, gateway } = env
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const payeeBefore = await devnet.balance(payee.address)
    const payerBefore = await devnet.balance(payer.address)
    const markers = steps.map((_, i) => `${name}-${i}`)
    const script = new Map(markers.map((m, i) => [m, behaviourOf(steps[i]!.upstream)]))
    upstream.script((request) => script.get(markerOf(request.url) ?? ''))
    const linesBefore = log.lines.length
    const seenBefore = upstream.seen.length

    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '10',
    })
    const rows: Row[] = []
    const expectedRows: Row[] = []
    let charged = 0n
    for (const [i, step] of steps.entries()) {
      const marker = markers[i]!
      const label = `${i} ${step.route} ${step.upstream}`
      const expected = expectedOutcome(step)
      charged += expected.charged
      const paid = routes[step.route].amount > 0n
      expectedRows.push({
        step: label,
        status: expected.status,
        code: expected.code,
        spent: paid ? charged.toString() : null,
      })
      const [path, init] = requestFor(step, marker)
      try {
        const response = await session.fetch(`${gateway.url}${path}`, init)
        const receipt = response.headers.get('payment-receipt')
        const text = await response.text()
        const problem = response.headers.get('content-type')?.includes('problem+json')
          ? (JSON.parse(text) as { code?: string }).code
          : undefined
        rows.push({
          step: label,
          status: response.status,
          code: problem,
          spent: receipt ? String(decodeReceipt(receipt).spent) : null,
        })
      } catch (error) {
        rows.push({ step: label, status: `threw: ${String(error)}`, code: undefined, spent: null })
      }
    }
    const closed = await session.close().then(
      (receipt) => ({ receipt }),
      (error: unknown) => ({ error: String(error) }),
    )
    upstream.script(undefined)
    const released = upstream.releaseHeld()

    const lines = log.lines
      .slice(linesBefore)
      .filter((line) => line.msg === 'request')
      .map((line) => ({
        requestId: String(line.requestId),
        answer: `${String(line.status)} ${String(line.outcome)}`,
      }))

    // The 402s the gateway sent in answer to a credential: there must be none.
    expect
      .soft(lines.filter((l) => l.answer.startsWith('402 ') && l.answer !== '402 challenge'))
      .toEqual([])

    expect.soft(rows).toEqual(expectedRows)

    // At the gateway, per request: the unpaid probe's challenge, then exactly one paid attempt.
    const byRequest = Object.fromEntries(
      markers.map((m) => [m, lines.filter((l) => l.requestId === m).map((l) => l.answer)]),
    )
    const expectedByRequest = Object.fromEntries(
      steps.map((step, i) => {
        const { status, outcome } = expectedOutcome(step)
        const answer = `${status} ${outcome}`
        return [markers[i]!, routes[step.route].amount > 0n ? ['402 challenge', answer] : [answer]]
      }),
    )
    expect.soft(byRequest).toEqual(expectedByRequest)
    // Anything else the gateway answered was the client's channel management: top-ups and the
    // one close, all successful.
    const management = lines.filter((l) => !markers.includes(l.requestId)).map((l) => l.answer)
    expect.soft(management.filter((a) => a !== '204 top-up')).toEqual(['204 close'])

    // The upstream saw every request exactly once (paid or free, whatever it answered).
    const seen = upstream.seen.slice(seenBefore).map((r) => markerOf(r.url))
    expect
      .soft(Object.fromEntries(markers.map((m) => [m, seen.filter((s) => s === m).length])))
      .toEqual(Object.fromEntries(markers.map((m) => [m, 1])))
    expect.soft(released).toBe(steps.filter((s) => s.upstream === 'timeout').length)

    const closeSummary =
      'error' in closed
        ? closed
        : {
            txHash: closed.receipt?.txHash?.replace(/^0x[0-9a-f]{64}$/, 'a transaction hash'),
            spent: closed.receipt?.spent,
          }
    expect.soft(closeSummary).toEqual({ txHash: 'a transaction hash', spent: charged.toString() })
    expect.soft(await devnet.balance(payee.address)).toBe(payeeBefore + charged)
    expect.soft(await devnet.balance(payer.address)).toBe(payerBefore - charged)
  }

  it('the sequence of the issue: cheaper requests after failed dearer ones, then a close', async () => {
    await payAndCheck('issue', issueSteps)
  })

  it('64 seeded requests over four routes, upstream failures included, then a close', async () => {
    const steps = seededSteps(0x5eed, 64)
    // The seed must exercise every failure on both charge modes; a different seed that did not
    // would silently test less.
    for (const failure of [500, 400, 'timeout', 'reset'] as const) {
      expect(steps.some((s) => s.upstream === failure && s.route === 'csv')).toBe(true)
      expect(
        steps.some(
          (s) => s.upstream === failure && (s.route === 'execute' || s.route === 'results'),
        ),
      ).toBe(true)
    }
    await payAndCheck('seed', steps)
  })
})
