/**
 * Slow clients and slow upstreams cannot take the gateway's upstream connections hostage (issue
 * 9, row c): in process, with an upstream pool of two connections. While the attack runs, a
 * normal paid request is answered within a generous bound — a liveness property, not a benchmark.
 * Every attacking request gets its problem code, reaches the upstream only when its bytes are
 * due, charges nothing, and no error-level line is logged.
 */
import { afterEach, describe, expect, it } from 'vitest'
import {
  prices,
  startInProcessGateway,
  type InProcessGateway,
} from '../support/in-process-gateway.js'
import { rawExchange, type RawExchange } from '../support/raw-http.js'

/** Liveness bound for a normal paid request while an attack runs. */
const answeredWithinMs = 3_000
const bodyTimeoutMs = 800

let gw!: InProcessGateway
let cumulative = 0n
const cleanups: (() => void)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup()
  await gw.stop()
})

async function start(upstream: Parameters<typeof startInProcessGateway>[0] = {}) {
  cumulative = 0n
  gw = await startInProcessGateway({
    upstream: { connections: 2, queueTimeoutMs: 300, responseTimeoutMs: 1_500 },
    requestBody: { timeoutMs: bodyTimeoutMs, bufferBytes: 1024 },
    ...upstream,
  })
}

const record = async () => (await gw.ledger.get(gw.channelId))!
const errorLines = () => gw.lines.filter((line) => (line.level as number) >= 50)

/** A normal paid request; its status and how long it took. */
async function payNormally(id: string) {
  const authorization = await gw.credential(`/paid/${id}`, (cumulative += prices.paid))
  const started = Date.now()
  const response = await fetch(`${gw.url}/paid/${id}`, { headers: { authorization } })
  await response.arrayBuffer()
  return { status: response.status, ms: Date.now() - started }
}

/** Sends `head`, then `chunk` every 200 ms until the answer arrives: a body that trickles. */
function trickle(head: string, first: string, chunk: string): RawExchange {
  const exchange = rawExchange(gw.url, head + first, { timeoutMs: 10_000 })
  const timer = setInterval(() => {
    if (!exchange.socket.destroyed) exchange.socket.write(chunk)
  }, 200)
  const stop = () => {
    clearInterval(timer)
    exchange.socket.destroy()
  }
  cleanups.push(stop)
  void exchange.response.finally(() => clearInterval(timer)).catch(() => {})
  return exchange
}

const problemCode = (body: string) => (JSON.parse(body) as { code: string }).code

describe('c: deadlines', () => {
  it('reads small bodies whole before taking a connection: slow ones get 408, paid traffic flows', async () => {
    await start()
    const before = await record()
    const slow = Array.from({ length: 6 }, (_, i) =>
      trickle(`POST /upload/${i} HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\n`, 'x', 'x'),
    )
    const paid = await payNormally('1')
    expect(paid.status).toBe(200)
    expect(paid.ms).toBeLessThan(answeredWithinMs)

    for (const exchange of slow) {
      const response = await exchange.response
      expect(response.status).toBe(408)
      expect(problemCode(response.body)).toBe('request-timeout')
      expect(response.headers.connection).toBe('close')
    }
    // Only the paid request reached the upstream; the slow bodies never held a connection.
    expect(gw.arrivals()).toBe(1)
    expect(await record()).toMatchObject({ spent: before.spent + prices.paid, reserved: 0n })
    expect(errorLines()).toEqual([])
  })

  it('gives a streamed (chunked) slow body 408 at its deadline and its connection back', async () => {
    await start()
    const slow = [0, 1].map((i) =>
      trickle(
        `POST /upload/c${i} HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n`,
        '1\r\nx\r\n',
        '1\r\nx\r\n',
      ),
    )
    const started = Date.now()
    for (const exchange of slow) {
      const response = await exchange.response
      expect(response.status).toBe(408)
      expect(problemCode(response.body)).toBe('request-timeout')
    }
    expect(Date.now() - started).toBeLessThan(answeredWithinMs)
    // Both held a connection while they streamed; both connections are free again.
    expect(gw.arrivals()).toBe(2)
    const [first, second] = [await payNormally('1'), await payNormally('2')]
    expect([first.status, second.status]).toEqual([200, 200])
    expect(Math.max(first.ms, second.ms)).toBeLessThan(answeredWithinMs)
    expect(errorLines()).toEqual([])
  })

  it('answers 503 upstream-busy when no connection frees in time, and charges nothing', async () => {
    await start()
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    cleanups.push(release)
    gw.script({ kind: 'held', release: released }, { kind: 'held', release: released })
    const holding = [fetch(`${gw.url}/free/h1`), fetch(`${gw.url}/free/h2`)]
    await gw.nextArrival()
    while (gw.arrivals() < 2) await gw.nextArrival()

    const before = await record()
    const authorization = await gw.credential('/paid/1', (cumulative += prices.paid))
    const started = Date.now()
    const busy = await fetch(`${gw.url}/paid/1`, { headers: { authorization } })
    expect(Date.now() - started).toBeLessThan(answeredWithinMs)
    expect(busy.status).toBe(503)
    expect(busy.headers.get('retry-after')).toBe('1')
    expect(busy.headers.get('payment-receipt')).toBeTruthy()
    expect(((await busy.json()) as { code: string }).code).toBe('upstream-busy')
    // The voucher is accepted (headroom the payer keeps, docs/DESIGN.md); nothing is spent.
    expect(await record()).toMatchObject({ spent: before.spent, reserved: 0n })
    expect(gw.arrivals()).toBe(2)

    release()
    expect((await Promise.all(holding)).map((r) => r.status)).toEqual([200, 200])
    expect(errorLines()).toEqual([])
  })

  it('cuts an upstream answer that trickles past responseTimeoutMs and frees its connection', async () => {
    await start({ upstream: { connections: 1, queueTimeoutMs: 2_000, responseTimeoutMs: 600 } })
    // A byte every 100 ms: never silent long enough for bodyTimeoutMs, never finished.
    gw.script({ kind: 'trickle', everyMs: 100 })
    const started = Date.now()
    const response = await fetch(`${gw.url}/free/slow`, {
      signal: AbortSignal.timeout(answeredWithinMs),
    })
    expect(response.status).toBe(200)
    const cut = await response.text().then(
      () => undefined,
      (error: unknown) => error as Error,
    )
    expect(cut).toBeInstanceOf(Error)
    expect(cut?.name).not.toBe('TimeoutError')
    expect(Date.now() - started).toBeLessThan(answeredWithinMs)
    const paid = await payNormally('1')
    expect(paid.status).toBe(200)
    expect(paid.ms).toBeLessThan(answeredWithinMs)
    expect(errorLines()).toEqual([])
  })
})
