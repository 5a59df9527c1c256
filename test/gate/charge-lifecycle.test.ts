/**
 * Every exit path of a paid request, in process (memory ledger, no chain, a scripted loopback
 * upstream): how the charge is decided, what the client is answered, and that every answer to an
 * accepted credential carries a receipt with the channel's true `spent`. The table in
 * docs/DESIGN.md ("Every exit of a paid request") is what these tests hold the gateway to.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/errors.js'
import type { LedgerPort } from '../../src/ledger/port.js'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import {
  prices,
  startInProcessGateway,
  type InProcessGateway,
} from '../support/in-process-gateway.js'
import { holdsConfirmed, until } from '../support/wait.js'

let gw!: InProcessGateway
const running: InProcessGateway[] = []
async function start(options?: Parameters<typeof startInProcessGateway>[0]) {
  gw = await startInProcessGateway(options)
  running.push(gw)
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((g) => g.stop()))
})

const paid = (id: string) => `/paid/${id}`
const always = (id: string) => `/always/${id}`

/** Pays `path` with a voucher of `cumulative`; the answer with its receipt decoded. */
async function pay(path: string, cumulative: bigint, init: RequestInit = {}) {
  const authorization = await gw.credential(path, cumulative)
  const response = await fetch(`${gw.url}${path}`, { ...init, headers: { authorization } })
  const header = response.headers.get('payment-receipt')
  const text = await response.text()
  return {
    status: response.status,
    receipt: header ? decodeReceipt(header) : undefined,
    cacheControl: response.headers.get('cache-control'),
    body: text,
    code: response.headers.get('content-type')?.includes('problem')
      ? (JSON.parse(text) as { code: string }).code
      : undefined,
  }
}

async function record() {
  return (await gw.ledger.get(gw.channelId))!
}

describe('every exit of a paid request', () => {
  it('served: charged at authorize, nothing more to write, receipt with the new spent', async () => {
    const writes: string[] = []
    await start({
      wrapLedger: (ledger) => ({
        ...ledger,
        authorize: (input) => (writes.push('authorize'), ledger.authorize(input)),
        commit: (...args) => (writes.push('commit'), ledger.commit(...args)),
        release: (...args) => (writes.push('release'), ledger.release(...args)),
      }),
    })
    const answer = await pay(paid('1'), prices.paid)
    // One ledger step before the answer left; the served hold is confirmed in the background,
    // which makes it final and settleable before it would lapse.
    expect(writes).toEqual(['authorize'])
    await holdsConfirmed(gw.ledger, gw.channelId)
    expect(await record()).toMatchObject({
      spent: prices.paid,
      held: 0n,
      settleVoucher: { cumulative: prices.paid },
    })
    expect(answer.status).toBe(200)
    expect(answer.receipt).toMatchObject({
      acceptedCumulative: String(prices.paid),
      spent: String(prices.paid),
      units: 1,
    })
    expect(answer.cacheControl).toBe('private')
    expect(await record()).toMatchObject({ spent: prices.paid, reserved: 0n, units: 1 })
  })

  it('not served (upstream 500): released, the 500 relayed with a receipt, spent unchanged', async () => {
    await start()
    gw.script({ kind: 'answer', status: 500, body: '{"error":"boom"}' })
    const answer = await pay(paid('1'), prices.paid)
    expect(answer).toMatchObject({ status: 500, body: '{"error":"boom"}' })
    expect(answer.receipt).toMatchObject({ acceptedCumulative: String(prices.paid), spent: '0' })
    expect(await record()).toMatchObject({ spent: 0n, reserved: 0n, units: 0 })
  })

  it('upstream time-out: 504 with a receipt, nothing charged', async () => {
    await start()
    gw.script({ kind: 'hang' })
    const answer = await pay(paid('1'), prices.paid)
    expect(answer).toMatchObject({ status: 504, code: 'upstream-timeout' })
    expect(answer.receipt).toMatchObject({ spent: '0' })
    expect(await record()).toMatchObject({ spent: 0n, reserved: 0n })
  })

  it('connection reset before the head: 502 with a receipt, nothing charged', async () => {
    await start()
    gw.script({ kind: 'reset' })
    const answer = await pay(paid('1'), prices.paid)
    expect(answer).toMatchObject({ status: 502, code: 'upstream-unavailable' })
    expect(answer.receipt).toMatchObject({ spent: '0' })
    expect(await record()).toMatchObject({ spent: 0n, reserved: 0n })
  })

  it('client gone before the head: released, nothing charged', async () => {
    await start()
    let release!: () => void
    gw.script({ kind: 'held', release: new Promise<void>((r) => (release = r)) })
    const arrived = gw.nextArrival()
    const leaving = new AbortController()
    const answer = pay(paid('1'), prices.paid, { signal: leaving.signal })
    await arrived
    // Charged at authorize, refundable while the answer's fate is open.
    expect(await record()).toMatchObject({ spent: prices.paid, held: prices.paid, units: 1 })
    leaving.abort()
    await expect(answer).rejects.toThrow()
    await until('the hold to be refunded', async () =>
      (await record()).held === 0n ? true : undefined,
    )
    release()
    expect(await record()).toMatchObject({ spent: 0n, units: 0 })
    expect(
      gw.lines.find((l) => l.msg === 'request' && l.outcome === 'client-aborted'),
    ).toMatchObject({ charge: 'released', charged: '0' })
  })

  it('client gone after the head: the charge decided at the head stands', async () => {
    await start()
    let finish!: () => void
    gw.script({ kind: 'partial', finish: new Promise<void>((r) => (finish = r)) })
    const leaving = new AbortController()
    const authorization = await gw.credential(paid('1'), prices.paid)
    const response = await fetch(`${gw.url}${paid('1')}`, {
      headers: { authorization },
      signal: leaving.signal,
    })
    expect(response.status).toBe(200)
    expect(decodeReceipt(response.headers.get('payment-receipt')!)).toMatchObject({
      spent: String(prices.paid),
    })
    leaving.abort()
    finish()
    expect(await record()).toMatchObject({ spent: prices.paid, reserved: 0n, units: 1 })
  })

  it('charge: always — an upstream 500 and a time-out are charged, with receipts', async () => {
    await start()
    gw.script({ kind: 'answer', status: 500 }, { kind: 'hang' })
    const failed = await pay(always('1'), prices.always)
    expect(failed.status).toBe(500)
    expect(failed.receipt).toMatchObject({ spent: String(prices.always), units: 1 })
    const timedOut = await pay(always('2'), 2n * prices.always)
    expect(timedOut).toMatchObject({ status: 504, code: 'upstream-timeout' })
    expect(timedOut.receipt).toMatchObject({ spent: String(2n * prices.always), units: 2 })
    expect(await record()).toMatchObject({ spent: 2n * prices.always, reserved: 0n })
  })

  it('channel closed while a held request was upstream: the answer was paid at authorize and is delivered', async () => {
    await start()
    let release!: () => void
    gw.script({ kind: 'held', release: new Promise<void>((r) => (release = r)) })
    const arrived = gw.nextArrival()
    const answer = pay(paid('1'), prices.paid)
    await arrived
    // A close captures spent, holds included: this answer's charge is in it.
    await gw.ledger.finalize(gw.channelId, { settled: prices.paid, txHash: undefined }, Date.now())
    release()
    const delivered = await answer
    expect(delivered).toMatchObject({ status: 200 })
    expect(delivered.receipt).toMatchObject({ spent: String(prices.paid), units: 1 })
    expect(await record()).toMatchObject({ spent: prices.paid, units: 1, settled: prices.paid })
  })

  it('a hold that lapses before the head is final: delivered and charged', async () => {
    await start({ reservationTtlMs: 100, headersTimeoutMs: 2_000 })
    let release!: () => void
    gw.script({ kind: 'held', release: new Promise<void>((r) => (release = r)) })
    const arrived = gw.nextArrival()
    const answer = pay(paid('1'), prices.paid)
    await arrived
    const heldUntil = Date.now() + 150
    await until('the hold to lapse', async () => (Date.now() > heldUntil ? true : undefined))
    release()
    const delivered = await answer
    expect(delivered.status).toBe(200)
    expect(delivered.receipt).toMatchObject({ spent: String(prices.paid) })
    expect(await record()).toMatchObject({ spent: prices.paid, units: 1 })
  })

  it('metered commit refused, channel closed meanwhile: 410 with a receipt, upstream answer withheld', async () => {
    await start()
    let release!: () => void
    gw.script({ kind: 'held', release: new Promise<void>((r) => (release = r)) })
    const arrived = gw.nextArrival()
    const answer = pay('/counted/1', prices.metered)
    await arrived
    await gw.ledger.finalize(gw.channelId, { settled: 0n, txHash: undefined }, Date.now())
    release()
    const refused = await answer
    expect(refused).toMatchObject({ status: 410, code: 'channel-finalized' })
    expect(refused.body).not.toContain('held')
    expect(refused.receipt).toMatchObject({ spent: '0' })
    expect(await record()).toMatchObject({ spent: 0n, units: 0 })
  })

  it('metered commit refused, reservation lapsed: 503 reservation-expired with a receipt, not charged', async () => {
    await start({ reservationTtlMs: 100, headersTimeoutMs: 2_000 })
    let release!: () => void
    gw.script({ kind: 'held', release: new Promise<void>((r) => (release = r)) })
    const arrived = gw.nextArrival()
    const answer = pay('/counted/1', prices.metered)
    await arrived
    const heldUntil = Date.now() + 150
    await until('the reservation to lapse', async () => (Date.now() > heldUntil ? true : undefined))
    release()
    const refused = await answer
    expect(refused).toMatchObject({ status: 503, code: 'reservation-expired' })
    expect(refused.receipt).toMatchObject({ spent: '0' })
    expect(await record()).toMatchObject({ spent: 0n, units: 0 })
  })

  describe('metered commit outcome unknown (the ledger did not answer)', () => {
    /** The metered route's answer: 3 units at 7 each. */
    const counted = { kind: 'answer', status: 200, headers: { 'x-units': '3' } } as const
    const cost = 3n * 7n
    /** A ledger whose next commits fail as an outage would, before or after really running. */
    function failingCommits() {
      const plan: ('lost' | 'unacknowledged')[] = []
      let down = false
      const wrap = (ledger: LedgerPort): LedgerPort => ({
        ...ledger,
        async commit(channelId, reservationId, now, amount) {
          const step = down ? 'lost' : plan.shift()
          if (step === 'lost') throw unavailable()
          const result = await ledger.commit(channelId, reservationId, now, amount)
          if (step === 'unacknowledged') throw unavailable()
          return result
        },
      })
      return {
        wrap,
        plan,
        setDown(value: boolean) {
          down = value
        },
      }
    }
    const unavailable = () =>
      new GatewayError('ledger-unavailable', 'The channel ledger is unavailable.', {
        retryAfter: 1,
      })

    it('lost before running: retried, committed once, delivered with the receipt', async () => {
      const commits = failingCommits()
      await start({ wrapLedger: commits.wrap })
      commits.plan.push('lost')
      gw.script(counted)
      const answer = await pay('/counted/1', prices.metered)
      expect(answer.status).toBe(200)
      expect(answer.receipt).toMatchObject({ spent: String(cost) })
      expect(await record()).toMatchObject({ spent: cost, units: 1, reserved: 0n })
    })

    it('ran but unacknowledged: the retry finds it landed, charged once', async () => {
      const commits = failingCommits()
      await start({ wrapLedger: commits.wrap })
      commits.plan.push('unacknowledged')
      gw.script(counted)
      const answer = await pay('/counted/1', prices.metered)
      expect(answer.status).toBe(200)
      expect(answer.receipt).toMatchObject({ spent: String(cost) })
      expect(await record()).toMatchObject({ spent: cost, units: 1, reserved: 0n })
    })

    it('silent past the window: delivered, then committed in the background and counted', async () => {
      const commits = failingCommits()
      await start({ wrapLedger: commits.wrap })
      commits.setDown(true)
      gw.script(counted)
      const answer = await pay('/counted/1', prices.metered)
      expect(answer.status).toBe(200)
      expect(answer.receipt).toMatchObject({ spent: String(cost) })
      expect((await record()).spent).toBe(0n)
      const resolved = gw.nextResolution()
      commits.setDown(false)
      expect(await resolved).toBe('committed')
      expect(await record()).toMatchObject({ spent: cost, units: 1, reserved: 0n })
      expect(await gw.metrics.render()).toContain(
        'mppgw_unresolved_charges_total{outcome="committed"} 1',
      )
      const line = gw.lines.find((l) => l.msg === 'request' && l.charge === 'unknown')
      expect(line).toMatchObject({ status: 200, outcome: 'forwarded' })
    })
  })

  describe('refund of a hold unknown (the ledger did not answer)', () => {
    it('the 500 is relayed with the refunded figures; the refund lands in the background, counted', async () => {
      let down = false
      await start({
        wrapLedger: (ledger) => ({
          ...ledger,
          async release(channelId, reservationId, now, voidUntil) {
            if (down) {
              throw new GatewayError('ledger-unavailable', 'The channel ledger is unavailable.')
            }
            return ledger.release(channelId, reservationId, now, voidUntil)
          },
        }),
      })
      down = true
      gw.script({ kind: 'answer', status: 500 })
      const answer = await pay(paid('1'), prices.paid)
      expect(answer.status).toBe(500)
      expect(answer.receipt).toMatchObject({ spent: '0' })
      // Still charged in the ledger until the refund gets through.
      expect(await record()).toMatchObject({ spent: prices.paid, held: prices.paid })
      const resolved = gw.nextResolution()
      down = false
      expect(await resolved).toBe('refunded')
      expect(await record()).toMatchObject({ spent: 0n, held: 0n, units: 0 })
      expect(await gw.metrics.render()).toContain(
        'mppgw_unresolved_charges_total{outcome="refunded"} 1',
      )
    })
  })

  describe('vouchers after failures (a client that rolled back)', () => {
    it('a lower voucher is served from the headroom a released failure left', async () => {
      await start()
      expect((await pay(paid('1'), prices.paid)).status).toBe(200)
      gw.script({ kind: 'answer', status: 500 })
      const failed = await pay(paid('2'), 2n * prices.paid)
      expect(failed.receipt).toMatchObject({
        acceptedCumulative: String(2n * prices.paid),
        spent: String(prices.paid),
      })
      // A client that ignored that receipt signs from its previous amount again: 2 × price
      // (equal) and then, having lost another answer, 1 × price + price… both covered.
      const equal = await pay(paid('3'), 2n * prices.paid)
      expect(equal.status).toBe(200)
      expect(equal.receipt).toMatchObject({ spent: String(2n * prices.paid) })
      expect((await record()).accepted.cumulative).toBe(2n * prices.paid)

      gw.script({ kind: 'answer', status: 500 })
      await pay(paid('4'), 3n * prices.paid)
      const lower = await pay(paid('5'), 2n * prices.paid + 1n)
      expect(lower.status).toBe(200)
      expect(lower.receipt).toMatchObject({
        acceptedCumulative: String(3n * prices.paid),
        spent: String(3n * prices.paid),
      })
      expect(await record()).toMatchObject({ spent: 3n * prices.paid, reserved: 0n, units: 3 })
      expect((await record()).accepted.cumulative).toBe(3n * prices.paid)
    })

    it('a lower voucher with no headroom held buys nothing: 402, nothing changes', async () => {
      await start()
      expect((await pay(paid('1'), 2n * prices.paid)).status).toBe(200)
      expect((await pay(paid('2'), 2n * prices.paid)).status).toBe(200)
      await holdsConfirmed(gw.ledger, gw.channelId)
      const before = await record()
      const refused = await pay(paid('3'), prices.paid)
      expect(refused).toMatchObject({
        status: 402,
        code: 'insufficient-balance',
        receipt: undefined,
      })
      expect({ ...(await record()), updatedAt: 0 }).toEqual({ ...before, updatedAt: 0 })
      expect(gw.seen).toHaveLength(2)
    })
  })
})
