/**
 * Prices from the answer, end to end: the devnet chain, the real mppx session client, the
 * gateway, and the Dune-like example upstream answering results of varying sizes. Two metered
 * routes: JSON results at 0.001 + 0.0001 per row (`result.metadata.row_count`), the streamed CSV
 * at 0.01 per started MB; both at most 0.05, which is what the challenge states.
 *
 * What the payer relies on: each receipt states exactly what that answer cost (never above the
 * maximum), `spent` is the running total, and after the close the chain moved exactly that total.
 */
import { tempo } from 'mppx/client'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import { connectDevnet, type DevnetKey } from '../devnet/devnet.js'
import { startDevnetGateway, type DevnetGateway } from '../support/devnet-gateway.js'
import { duneRows } from '../support/example-upstream.js'
import { memoryLogger } from '../support/gateway.js'
import { until } from '../support/wait.js'

const maxPrice = 50_000n
const perRow = { base: 1_000n, perUnit: 100n }
const perMb = { perUnit: 10_000n, bytes: 1_000_000n }

/** The expected price of the JSON results with `rows` rows. */
const rowsPrice = (rows: number) => {
  const amount = perRow.base + perRow.perUnit * BigInt(rows)
  return amount > maxPrice ? maxPrice : amount
}

/** The expected price of the CSV with `rows` rows: its exact size, per started MB. */
const csvPrice = (rows: number) => {
  const text =
    'block,value\n' +
    duneRows(rows)
      .map((r) => `${r.block},${r.value}\n`)
      .join('')
  const units = (BigInt(Buffer.byteLength(text)) + perMb.bytes - 1n) / perMb.bytes
  const amount = perMb.perUnit * units
  return amount > maxPrice ? maxPrice : amount
}

/** 30 requests: JSON results from 0 to 1000 rows (the largest capped), CSVs up to ~5 MB. */
const steps = Array.from({ length: 30 }, (_, i) =>
  i % 2 === 0
    ? { kind: 'results' as const, rows: [0, 1, 5, 37, 120, 499, 1_000][i % 7]! }
    : { kind: 'csv' as const, rows: [10, 40_000, 70_000, 140_000, 330_000][i % 5]! },
)

describe('the real mppx client on routes priced from the answer', () => {
  let env: DevnetGateway
  let payee: DevnetKey
  const log = memoryLogger()

  beforeAll(async () => {
    const [fresh] = await connectDevnet(inject('devnet')).newPayers(1)
    payee = fresh!
    env = await startDevnetGateway({
      logger: log.logger,
      extraEnv: { DEVNET_PAYEE_ADDRESS: payee.address, DEVNET_PAYEE_KEY: payee.privateKey },
      edit: (doc) => {
        const table = (doc.toJS() as { routes: { path: string }[] }).routes
        const results = table.findIndex((r) => r.path === '/v1/execution/:id/results')
        const csv = table.findIndex((r) => r.path === '/v1/execution/:id/results/csv')
        doc.setIn(['routes', results, 'price'], '0.05')
        doc.setIn(['routes', results, 'metered'], {
          base: '0.001',
          perUnit: '0.0001',
          units: { jsonField: 'result.metadata.row_count' },
        })
        doc.setIn(['routes', csv, 'price'], '0.05')
        doc.setIn(['routes', csv, 'metered'], {
          perUnit: '0.01',
          units: { bytes: 1_000_000 },
          bufferBytes: 8 * 1024 * 1024,
        })
        // The close is the only settlement, so the figures on chain are exact.
        doc.setIn(['settlement', 'enabled'], false)
      },
    })
  })
  afterAll(async () => {
    await env?.stop()
  })

  it('30 paid answers priced per row and per MB: exact receipts, the exact sum on chain', async () => {
    const { devnet, gateway } = env
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const payeeBefore = await devnet.balance(payee.address)
    const payerBefore = await devnet.balance(payer.address)
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '10',
    })

    const got: { amount: string; spent: string; status: number; bytes: number }[] = []
    const expected: typeof got = []
    let total = 0n
    for (const [i, step] of steps.entries()) {
      const path =
        step.kind === 'results'
          ? `/v1/execution/m-${i}/results?rows=${step.rows}`
          : `/v1/execution/m-${i}/results/csv?rows=${step.rows}`
      const response = await session.fetch(`${gateway.url}${path}`)
      const body = await response.arrayBuffer()
      const receipt = decodeReceipt(response.headers.get('payment-receipt') ?? '')
      got.push({
        status: response.status,
        amount: String(receipt.amount),
        spent: String(receipt.spent),
        bytes: body.byteLength,
      })
      const amount = step.kind === 'results' ? rowsPrice(step.rows) : csvPrice(step.rows)
      total += amount
      expected.push({
        status: 200,
        amount: String(amount),
        spent: String(total),
        bytes: body.byteLength,
      })
    }
    expect(got).toEqual(expected)
    for (const { amount } of got) expect(BigInt(amount)).toBeLessThanOrEqual(maxPrice)
    // The steps must reach a capped answer and more than one MB block, or they test less.
    expect(got.some((g) => BigInt(g.amount) === maxPrice)).toBe(true)
    expect(new Set(got.filter((_, i) => i % 2 === 1).map((g) => g.amount)).size).toBeGreaterThan(2)

    const closed = await session.close()
    expect(closed?.spent).toBe(String(total))
    expect(await devnet.balance(payee.address)).toBe(payeeBefore + total)
    expect(await devnet.balance(payer.address)).toBe(payerBefore - total)

    const lines = log.lines.filter((l) => l.msg === 'request' && l.outcome === 'forwarded')
    expect(lines.map((l) => l.charged)).toEqual(expected.map((e) => e.amount))
    expect(
      lines.filter((l) => l.route === 'GET /v1/execution/:id/results').map((l) => l.units),
    ).toEqual(steps.filter((s) => s.kind === 'results').map((s) => String(s.rows)))
  })

  it('a body cut short by the upstream, and a client that leaves, are charged as DESIGN.md says', async () => {
    const { devnet, gateway, upstream } = env
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const payeeBefore = await devnet.balance(payee.address)
    const payerBefore = await devnet.balance(payer.address)
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '10',
    })
    upstream.script((request) =>
      request.url.includes('rows=20')
        ? { kind: 'cut', afterBytes: 50 }
        : request.url.includes('rows=30')
          ? { kind: 'cut', afterBytes: 50, stall: true }
          : undefined,
    )
    const results = (rows: number) => `${gateway.url}/v1/execution/cut-${rows}/results?rows=${rows}`
    const spentOf = (response: Response) =>
      String(decodeReceipt(response.headers.get('payment-receipt') ?? '').spent)

    const first = await session.fetch(results(10))
    await first.arrayBuffer()
    expect([first.status, spentOf(first)]).toEqual([200, String(rowsPrice(10))])

    // Cut by the upstream while the gateway held the body to price it: no head was decided.
    const cut = await session.fetch(results(20))
    const problem = (await cut.json()) as { code: string }
    expect([cut.status, problem.code, spentOf(cut)]).toEqual([
      502,
      'upstream-unavailable',
      String(rowsPrice(10)),
    ])

    // The client leaves while the gateway holds a stalled body: nothing is charged.
    const leaving = new AbortController()
    const seen = upstream.seen.length
    const abandoned = session.fetch(results(30), { signal: leaving.signal })
    await until('the upstream to get the request', async () =>
      upstream.seen.slice(seen).some((r) => r.url.includes('rows=30')) ? true : undefined,
    )
    leaving.abort()
    await expect(abandoned).rejects.toThrow()
    await until('the abandoned request to be logged', async () =>
      log.lines.find((l) => l.msg === 'request' && l.outcome === 'client-aborted'),
    )
    upstream.releaseHeld()

    const last = await session.fetch(results(40))
    await last.arrayBuffer()
    const total = rowsPrice(10) + rowsPrice(40)
    expect([last.status, spentOf(last)]).toEqual([200, String(total)])
    upstream.script(undefined)

    const lines = log.lines.filter((l) => l.msg === 'request' && String(l.path).includes('/cut-'))
    expect(
      lines.filter((l) => l.charge !== undefined).map((l) => [l.outcome, l.charge, l.charged]),
    ).toEqual([
      ['forwarded', 'committed', String(rowsPrice(10))],
      ['upstream-unavailable', 'released', '0'],
      ['client-aborted', 'released', '0'],
      ['forwarded', 'committed', String(rowsPrice(40))],
    ])

    const closed = await session.close()
    expect(closed?.spent).toBe(String(total))
    expect(await devnet.balance(payee.address)).toBe(payeeBefore + total)
    expect(await devnet.balance(payer.address)).toBe(payerBefore - total)
  })
})
