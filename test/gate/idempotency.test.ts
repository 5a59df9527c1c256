/**
 * Paid retries, in process (memory ledger and store, scripted loopback upstream): a retry with the
 * same Idempotency-Key — or the same credential — is answered from the stored copy, never
 * forwarded or charged again; another request under the same key is refused, not forwarded, not
 * charged; a retry while the first is in flight gets 409. docs/DESIGN.md "Paid retries".
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryIdempotencyStore } from '../../src/ledger/idempotency.js'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import {
  prices,
  startInProcessGateway,
  type InProcessGateway,
} from '../support/in-process-gateway.js'

let gw!: InProcessGateway
afterEach(async () => {
  await gw.stop()
})

/** POSTs `body` to /submit, paid with a voucher of `cumulative`, with `key` if given. */
async function submit(options: {
  cumulative: bigint
  body: string
  key?: string
  authorization?: string
}) {
  const authorization =
    options.authorization ?? (await gw.credential('/submit', options.cumulative, 'POST'))
  const response = await fetch(`${gw.url}/submit`, {
    method: 'POST',
    headers: {
      authorization,
      'content-type': 'application/json',
      ...(options.key === undefined ? {} : { 'idempotency-key': options.key }),
    },
    body: options.body,
  })
  const text = await response.text()
  const receipt = response.headers.get('payment-receipt')
  return {
    status: response.status,
    body: text,
    replayed: response.headers.get('idempotent-replayed'),
    contentType: response.headers.get('content-type'),
    spent: receipt ? String(decodeReceipt(receipt).spent) : undefined,
    code: response.headers.get('content-type')?.includes('problem')
      ? (JSON.parse(text) as { code: string }).code
      : undefined,
    authorization,
  }
}

const record = async () => (await gw.ledger.get(gw.channelId))!
const query = JSON.stringify({ query_sql: 'select 1' })

describe('paid retries with an Idempotency-Key', () => {
  it('a retry is answered from the stored copy: one upstream call, one charge, identical answers', async () => {
    gw = await startInProcessGateway()
    gw.script({ kind: 'answer', status: 200, body: '{"execution_id":"01EXEC1"}' })
    const first = await submit({ cumulative: prices.paid, body: query, key: 'run-1' })
    // The retry pays with a higher voucher, as a client that rolled nothing back does.
    const retry = await submit({ cumulative: 2n * prices.paid, body: query, key: 'run-1' })
    expect(first).toMatchObject({ status: 200, body: '{"execution_id":"01EXEC1"}', replayed: null })
    expect(retry).toMatchObject({
      status: 200,
      body: first.body,
      contentType: first.contentType,
      replayed: 'true',
      spent: String(prices.paid),
    })
    expect(gw.seen).toEqual(['/submit'])
    expect(await record()).toMatchObject({ spent: prices.paid, units: 1, reserved: 0n })
    expect(gw.lines.filter((l) => l.msg === 'request').map((l) => l.outcome)).toContain('replayed')
  })

  it('keeps the copy before the last byte leaves: a retry right after the answer is a replay', async () => {
    const events: string[] = []
    const memory = createMemoryIdempotencyStore()
    gw = await startInProcessGateway({
      idempotency: {
        ...memory,
        // A store slower than the client: the copy is written only after a few turns of the
        // event loop, long after an answer that did not wait for it would have been read.
        async complete(input) {
          for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
          events.push('kept')
          await memory.complete(input)
        },
      },
    })
    const authorization = await gw.credential('/submit', prices.paid, 'POST')
    const response = await fetch(`${gw.url}/submit`, {
      method: 'POST',
      headers: { authorization, 'idempotency-key': 'run-0' },
      body: query,
    })
    await response.text()
    events.push('answer read')
    expect(events).toEqual(['kept', 'answer read'])
    const retry = await submit({ cumulative: 2n * prices.paid, body: query, key: 'run-0' })
    expect(retry).toMatchObject({ status: 200, replayed: 'true' })
  })

  it('another body under the same key: 422, not forwarded, not charged', async () => {
    gw = await startInProcessGateway()
    await submit({ cumulative: prices.paid, body: query, key: 'run-2' })
    const other = await submit({
      cumulative: 2n * prices.paid,
      body: JSON.stringify({ query_sql: 'select 2' }),
      key: 'run-2',
    })
    expect(other).toMatchObject({
      status: 422,
      code: 'idempotency-key-reused',
      spent: String(prices.paid),
    })
    expect(gw.seen).toHaveLength(1)
    expect(await record()).toMatchObject({ spent: prices.paid, units: 1, reserved: 0n })
  })

  it('a retry while the first is in flight: 409, not forwarded, not charged', async () => {
    gw = await startInProcessGateway()
    let release!: () => void
    gw.script({ kind: 'held', release: new Promise<void>((r) => (release = r)) })
    const arrived = gw.nextArrival()
    const first = submit({ cumulative: prices.paid, body: query, key: 'run-3' })
    await arrived
    const second = await submit({ cumulative: 2n * prices.paid, body: query, key: 'run-3' })
    expect(second).toMatchObject({ status: 409, code: 'idempotency-in-flight' })
    release()
    expect((await first).status).toBe(200)
    expect(gw.seen).toHaveLength(1)
    expect(await record()).toMatchObject({ spent: prices.paid, units: 1, reserved: 0n })
  })

  it('an answer that was not charged is not kept: the retry is forwarded', async () => {
    gw = await startInProcessGateway()
    gw.script({ kind: 'answer', status: 500 })
    const failed = await submit({ cumulative: prices.paid, body: query, key: 'run-4' })
    const retry = await submit({ cumulative: prices.paid, body: query, key: 'run-4' })
    expect([failed.status, retry.status, retry.replayed]).toEqual([500, 200, null])
    expect(gw.seen).toHaveLength(2)
    expect(await record()).toMatchObject({ spent: prices.paid, units: 1 })
  })

  it('an answer over the bound is not kept: the retry is refused, never charged again', async () => {
    gw = await startInProcessGateway({ idempotencyMaxBodyBytes: 16 })
    gw.script({ kind: 'answer', status: 200, body: 'x'.repeat(17) })
    await submit({ cumulative: prices.paid, body: query, key: 'run-5' })
    const retry = await submit({ cumulative: 2n * prices.paid, body: query, key: 'run-5' })
    expect(retry).toMatchObject({ status: 409, code: 'idempotency-answer-unavailable' })
    expect(gw.seen).toHaveLength(1)
    expect(await record()).toMatchObject({ spent: prices.paid, units: 1, reserved: 0n })
  })

  it('an invalid key: 400, not forwarded, not charged', async () => {
    gw = await startInProcessGateway()
    const answer = await submit({ cumulative: prices.paid, body: query, key: 'a b' })
    expect(answer).toMatchObject({ status: 400, code: 'idempotency-key-invalid', spent: '0' })
    expect(gw.seen).toHaveLength(0)
    expect(await record()).toMatchObject({ spent: 0n, reserved: 0n })
  })
})

describe('paid retries without a key', () => {
  it('the same credential re-sent for the same request is answered from the copy', async () => {
    gw = await startInProcessGateway()
    gw.script({ kind: 'answer', status: 200, body: '{"execution_id":"01EXEC9"}' })
    // A voucher above the price: the re-sent one finds headroom, and is still not charged.
    const first = await submit({ cumulative: 3n * prices.paid, body: query })
    const again = await submit({
      cumulative: prices.paid,
      body: query,
      authorization: first.authorization,
    })
    expect(again).toMatchObject({ status: 200, body: first.body, replayed: 'true' })
    expect(gw.seen).toHaveLength(1)
    expect(await record()).toMatchObject({ spent: prices.paid, units: 1 })
  })

  it('the same credential re-sent without headroom left: 402, not forwarded, not charged', async () => {
    gw = await startInProcessGateway()
    const first = await submit({ cumulative: prices.paid, body: query })
    const again = await submit({
      cumulative: prices.paid,
      body: query,
      authorization: first.authorization,
    })
    expect(again).toMatchObject({ status: 402, code: 'insufficient-balance' })
    expect(gw.seen).toHaveLength(1)
    expect(await record()).toMatchObject({ spent: prices.paid, units: 1, reserved: 0n })
  })

  it('the same credential for another request is not a retry: forwarded and charged', async () => {
    gw = await startInProcessGateway()
    const first = await submit({ cumulative: 3n * prices.paid, body: query })
    const other = await submit({
      cumulative: 3n * prices.paid,
      body: JSON.stringify({ query_sql: 'select 3' }),
      authorization: first.authorization,
    })
    expect([first.status, other.status, other.replayed]).toEqual([200, 200, null])
    expect(gw.seen).toHaveLength(2)
    expect(await record()).toMatchObject({ spent: 2n * prices.paid, units: 2 })
  })
})
