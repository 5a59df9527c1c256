/**
 * The soak's traffic, open-loop at a fixed rate: of every five requests three pay with a new
 * voucher (one channel per lane, opened by the real mppx client as the bench does, vouchers
 * signed with libsecp256k1: bench/vouchers.ts), one goes to a free route and one to a priced
 * route without credentials (a 402 challenge). Every 30 s three new mppx payers open a channel,
 * pay three times and close it cooperatively.
 *
 * Invariants:
 * - bounded in time (`stop()`) and in flight: a paid lane sends its next voucher only after its
 *   previous answer (vouchers of one channel must arrive in order), free and 402 requests are
 *   capped at {@link maxInFlight}; a request that cannot go out on time is counted as skipped,
 *   never queued, so a slow gateway shows as a lower achieved rate, not as unbounded memory;
 * - per-minute figures (statuses, latencies) are summarized when the minute ends and the raw
 *   latencies dropped; only 127.0.0.1 is ever addressed.
 */
import { tempo } from 'mppx/client'
import type { DevnetClient } from '../../test/devnet/devnet.js'
import { openPool } from '../bench/load.js'
import {
  challengePrice,
  createNativeVoucherSigner,
  fetchChallenge,
  openChannels,
  voucherCredential,
  type BenchChannel,
  type EchoedChallenge,
  type VoucherSigner,
} from '../bench/vouchers.js'

export type Kind = 'paid' | 'free' | 'challenge'

/** One minute of traffic: answers by kind and status, latency quantiles by kind. */
export type MinuteFigures = {
  readonly minute: number
  readonly statuses: Readonly<Record<string, number>>
  readonly p50Ms: Readonly<Record<Kind, number>>
  readonly p99Ms: Readonly<Record<Kind, number>>
  readonly sent: number
  readonly skipped: number
}

export type CloseResult = { readonly ok: boolean; readonly detail: string }

export type Load = {
  /** Stops issuing; resolves once every request and payer cohort in flight has finished. */
  stop(): Promise<void>
  /** Figures of every minute completed so far (and the current one after `stop`). */
  readonly minutes: readonly MinuteFigures[]
  readonly closes: readonly CloseResult[]
  /** Answers since the start by kind and status (`paid 200`, …). */
  readonly totals: Readonly<Record<string, number>>
  /** Requests and answers in the current sample period, then reset (for per-sample rates). */
  takeWindow(): { answered: number; statusClasses: Record<string, number>; paidP99Ms: number }
  describe(): string
}

export const paidPath = '/v1/execution/soak/results'
export const freePath = '/v1/execution/soak/status'
const cycle: readonly Kind[] = ['paid', 'free', 'paid', 'challenge', 'paid']
const maxInFlight = 256
const tickMs = 20
const challengeRefreshMs = 60_000
const cohortEveryMs = 30_000
const cohortSize = 3

type Lane = {
  readonly channel: BenchChannel
  readonly sign: VoucherSigner
  signedUpTo: bigint
  busy: boolean
}

/** Quantile of unsorted values (sorts in place); 0 when there are none. */
function quantile(values: number[], q: number): number {
  if (values.length === 0) return 0
  values.sort((a, b) => a - b)
  return values[Math.min(values.length - 1, Math.max(0, Math.ceil(q * values.length) - 1))]!
}

export async function startLoad(options: {
  devnet: DevnetClient
  url: string
  rate: number
  channels: number
  deposit: bigint
  decimals: number
  /** Session-token funds for each mppx cohort payer. */
  payerFunds: bigint
  log: (line: string) => void
}): Promise<Load> {
  const { devnet, url } = options
  let challenge: EchoedChallenge = await fetchChallenge(`${url}${paidPath}`)
  const price = challengePrice(challenge)
  const channels = await openChannels({
    devnet,
    url,
    path: paidPath,
    count: options.channels,
    deposit: options.deposit,
    decimals: options.decimals,
  })
  const lanes: Lane[] = channels.map((channel) => ({
    channel,
    sign: createNativeVoucherSigner({
      chainId: devnet.chainId,
      escrow: devnet.escrow,
      privateKey: channel.payer.privateKey,
    }),
    signedUpTo: channel.openedAt,
    busy: false,
  }))
  const pool = openPool(url, 96)

  const started = performance.now()
  const minutes: MinuteFigures[] = []
  const closes: CloseResult[] = []
  const totals: Record<string, number> = {}
  let minute = { index: 0, statuses: {} as Record<string, number>, sent: 0, skipped: 0 }
  let latencies: Record<Kind, number[]> = { paid: [], free: [], challenge: [] }
  let window = { answered: 0, statusClasses: {} as Record<string, number>, paid: [] as number[] }
  let issued = 0
  let inFlight = 0
  let laneCursor = 0
  let stopped = false
  const running = new Set<Promise<unknown>>()
  const track = (work: Promise<unknown>) => {
    running.add(work)
    void work.finally(() => running.delete(work))
  }

  const closeMinute = () => {
    const figures: MinuteFigures = {
      minute: minute.index,
      statuses: minute.statuses,
      p50Ms: {
        paid: quantile(latencies.paid, 0.5),
        free: quantile(latencies.free, 0.5),
        challenge: quantile(latencies.challenge, 0.5),
      },
      p99Ms: {
        paid: quantile(latencies.paid, 0.99),
        free: quantile(latencies.free, 0.99),
        challenge: quantile(latencies.challenge, 0.99),
      },
      sent: minute.sent,
      skipped: minute.skipped,
    }
    minutes.push(figures)
    minute = { index: minute.index + 1, statuses: {}, sent: 0, skipped: 0 }
    latencies = { paid: [], free: [], challenge: [] }
  }

  const record = (kind: Kind, status: string, ms: number) => {
    const key = `${kind} ${status}`
    minute.statuses[key] = (minute.statuses[key] ?? 0) + 1
    totals[key] = (totals[key] ?? 0) + 1
    latencies[kind].push(ms)
    window.answered += 1
    const statusClass = /^\d/.test(status) ? `${status[0]}xx` : status
    window.statusClasses[statusClass] = (window.statusClasses[statusClass] ?? 0) + 1
    if (kind === 'paid') window.paid.push(ms)
  }

  const send = (kind: Kind, path: string, headers?: Record<string, string>, lane?: Lane) => {
    inFlight += 1
    minute.sent += 1
    const t0 = performance.now()
    track(
      pool
        .request({ path, method: 'GET', ...(headers ? { headers } : {}) })
        .then(async (answer) => {
          await answer.body.dump()
          record(kind, String(answer.statusCode), performance.now() - t0)
        })
        .catch((error: unknown) => {
          record(kind, error instanceof Error ? error.name : 'error', performance.now() - t0)
        })
        .finally(() => {
          inFlight -= 1
          if (lane) lane.busy = false
        }),
    )
  }

  const sendPaid = (): boolean => {
    for (let k = 0; k < lanes.length; k++) {
      const lane = lanes[(laneCursor + k) % lanes.length]!
      if (lane.busy || lane.signedUpTo + price > lane.channel.deposit) continue
      laneCursor = (laneCursor + k + 1) % lanes.length
      lane.busy = true
      const cumulative = lane.signedUpTo + price
      lane.signedUpTo = cumulative
      const authorization = voucherCredential({
        challenge,
        channel: lane.channel,
        chainId: devnet.chainId,
        cumulative,
        signature: lane.sign(lane.channel.channelId, cumulative),
      })
      send('paid', paidPath, { authorization }, lane)
      return true
    }
    return false
  }

  const tick = () => {
    if (stopped) return
    const elapsed = performance.now() - started
    while (Math.floor(elapsed / 60_000) > minute.index) closeMinute()
    const due = Math.floor((elapsed / 1000) * options.rate) - issued
    for (let i = 0; i < due; i++) {
      const kind = cycle[issued % cycle.length]!
      issued += 1
      const sent =
        kind === 'paid'
          ? sendPaid()
          : inFlight < maxInFlight && (send(kind, kind === 'free' ? freePath : paidPath), true)
      if (!sent) minute.skipped += 1
    }
  }
  const ticker = setInterval(tick, tickMs)

  const refresher = setInterval(() => {
    track(
      fetchChallenge(`${url}${paidPath}`).then(
        (fresh) => (challenge = fresh),
        (error: unknown) => options.log(`challenge refresh failed: ${String(error)}`),
      ),
    )
  }, challengeRefreshMs)

  let cohortRunning = false
  let cohorts = 0
  const cohort = async () => {
    cohortRunning = true
    cohorts += 1
    try {
      const payers = await devnet.newPayers(cohortSize, options.payerFunds)
      await Promise.all(
        payers.map(async (payer) => {
          const session = tempo.session.manager({
            client: devnet.clientFor(payer.privateKey),
            maxDeposit: '1',
          })
          try {
            for (let i = 0; i < 3; i++) {
              const response = await session.fetch(`${url}${paidPath}?payer=${i}`)
              await response.arrayBuffer()
              if (response.status !== 200)
                throw new Error(`paid request answered ${response.status}`)
            }
            const receipt = await session.close()
            closes.push(
              receipt?.txHash
                ? { ok: true, detail: receipt.txHash }
                : { ok: false, detail: 'close returned no receipt' },
            )
          } catch (error) {
            closes.push({
              ok: false,
              detail: error instanceof Error ? error.message : String(error),
            })
          }
        }),
      )
    } catch (error) {
      options.log(`payer cohort failed to start: ${String(error)}`)
      closes.push({ ok: false, detail: `cohort setup: ${String(error)}` })
    } finally {
      cohortRunning = false
    }
  }
  const cohortTimer = setInterval(() => {
    if (!cohortRunning && !stopped) track(cohort())
  }, cohortEveryMs)

  return {
    async stop() {
      stopped = true
      clearInterval(ticker)
      clearInterval(refresher)
      clearInterval(cohortTimer)
      while (running.size > 0) await Promise.allSettled([...running])
      closeMinute()
      await pool.close()
    },
    minutes,
    closes,
    totals,
    takeWindow() {
      const taken = {
        answered: window.answered,
        statusClasses: window.statusClasses,
        paidP99Ms: quantile(window.paid, 0.99),
      }
      window = { answered: 0, statusClasses: {}, paid: [] }
      return taken
    },
    describe: () =>
      `${lanes.length} voucher channels, ${issued} requests due at ${options.rate}/s, ` +
      `${cohorts} mppx payer cohorts of ${cohortSize}`,
  }
}
