/**
 * What a row sends: a {@link Traffic} hands each load worker its next request, from material
 * prepared before the window (the load generator never builds or signs anything itself).
 *
 * Kinds:
 * - {@link sameRequest}: one fixed request, unbounded supply (upstream, reference, free route, 402).
 * - {@link newVoucherEachRequest}: the mppx client's pattern — every request carries a new voucher,
 *   cumulative + price. One channel per worker: vouchers of one channel must arrive in increasing
 *   order (a lower one is refused as not-increasing), which only a sequential sender guarantees,
 *   so concurrency comes from many payers, as it does in production.
 * - {@link oneVoucherResent}: ONE channel and ONE voucher worth the whole deposit, re-sent by every
 *   worker; each request is charged against the voucher's headroom.
 *
 * Budgets: a voucher is never above its deposit and a re-sent voucher is never asked for more than
 * its headroom; when a supply runs out the worker stops and the window says so (`stoppedBy`).
 */
import type { Hex } from 'viem'
import type { DevnetClient } from '../../test/devnet/devnet.js'
import type { LoadRequest } from './load.js'
import {
  challengePrice,
  createNativeVoucherSigner,
  fetchChallenge,
  openChannels,
  voucherCredential,
  type BenchChannel,
  type EchoedChallenge,
  type VoucherSigner,
} from './vouchers.js'

/** Request supply of one row. */
export type Traffic = {
  /**
   * Makes about `requests` requests ready, spread over `workers` workers (signing ahead where
   * needed), and returns how many are ready in all (`Infinity` for an unlimited supply). Called
   * between windows only.
   */
  prepare(window: { readonly workers: number; readonly requests: number }): Promise<number>
  /** The next request of `worker`, or `undefined` once its supply is used up. */
  next(worker: number): LoadRequest | undefined
  /** One line on what the traffic did (channels, vouchers signed), for the end of the run. */
  describe?(): string
}

/** What a row's traffic may use to set itself up. */
export type TrafficContext = {
  readonly devnet: DevnetClient
  /** Origin of the process the row measures. */
  readonly url: string
  /** The most workers any window of the row runs. */
  readonly maxWorkers: number
  /** Channel deposit in base units (the gateway suggests it; see gateways.ts). */
  readonly deposit: bigint
  readonly decimals: number
}

/** Builds a row's traffic (opening channels and the like happens here, before any window). */
export type TrafficFactory = (context: TrafficContext) => Promise<Traffic>

/**
 * How much more than its even share one worker may need: workers run at nearly the same pace, but
 * not exactly. Past this, the window reports `stoppedBy: 'supply'` rather than run short silently.
 */
const workerShareSlack = 1.5
/** A challenge is re-fetched when older than this (challenges live 300 s by default). */
const challengeRefreshMs = 60_000

/** The same request, over and over. */
export function sameRequest(request: LoadRequest): TrafficFactory {
  return async () => ({
    prepare: async () => Number.POSITIVE_INFINITY,
    next: () => request,
  })
}

/** A challenge for `url`, re-fetched between windows once it gets old. */
type ChallengeHolder = {
  current: EchoedChallenge
  fetchedAt: number
  /** Fetches a new challenge when the current one is old; true when it changed. */
  refresh(): Promise<boolean>
}

async function holdChallenge(url: string): Promise<ChallengeHolder> {
  const holder: ChallengeHolder = {
    current: await fetchChallenge(url),
    fetchedAt: Date.now(),
    async refresh() {
      if (Date.now() - holder.fetchedAt < challengeRefreshMs) return false
      holder.current = await fetchChallenge(url)
      holder.fetchedAt = Date.now()
      return true
    },
  }
  return holder
}

type SignedVoucher = { readonly cumulative: bigint; readonly signature: Hex }

/** One worker's channel with its queue of signed, not yet sent, vouchers. */
type VoucherLane = {
  readonly channel: BenchChannel
  readonly sign: VoucherSigner
  /** Highest cumulative amount signed so far. */
  signedUpTo: bigint
  queue: SignedVoucher[]
  headers: LoadRequest[]
  head: number
}

/** Every request pays with a new voucher, cumulative + price (one channel per worker). */
export function newVoucherEachRequest(options: { path: string }): TrafficFactory {
  return async (context) => {
    const url = `${context.url}${options.path}`
    const challenge = await holdChallenge(url)
    const price = challengePrice(challenge.current)
    const channels = await openChannels({
      devnet: context.devnet,
      url: context.url,
      path: options.path,
      count: context.maxWorkers,
      deposit: context.deposit,
      decimals: context.decimals,
    })
    const lanes: VoucherLane[] = channels.map((channel) => ({
      channel,
      sign: createNativeVoucherSigner({
        chainId: context.devnet.chainId,
        escrow: context.devnet.escrow,
        privateKey: channel.payer.privateKey,
      }),
      signedUpTo: channel.openedAt,
      queue: [],
      headers: [],
      head: 0,
    }))
    const request = (lane: VoucherLane, voucher: SignedVoucher): LoadRequest => ({
      path: options.path,
      headers: {
        authorization: voucherCredential({
          challenge: challenge.current,
          channel: lane.channel,
          chainId: context.devnet.chainId,
          cumulative: voucher.cumulative,
          signature: voucher.signature,
        }),
      },
    })

    let signed = 0
    let signingMs = 0

    return {
      async prepare(window) {
        const started = performance.now()
        const fresh = await challenge.refresh()
        const share = Math.ceil((window.requests / window.workers) * workerShareSlack)
        for (const lane of lanes.slice(0, window.workers)) {
          lane.queue = lane.queue.slice(lane.head)
          lane.headers = fresh
            ? lane.queue.map((voucher) => request(lane, voucher))
            : lane.headers.slice(lane.head)
          lane.head = 0
          while (lane.queue.length < share && lane.signedUpTo + price <= lane.channel.deposit) {
            const cumulative = lane.signedUpTo + price
            const voucher = { cumulative, signature: lane.sign(lane.channel.channelId, cumulative) }
            lane.queue.push(voucher)
            lane.headers.push(request(lane, voucher))
            lane.signedUpTo = cumulative
            signed += 1
          }
        }
        signingMs += performance.now() - started
        return lanes
          .slice(0, window.workers)
          .reduce((sum, lane) => sum + lane.headers.length - lane.head, 0)
      },
      next(worker) {
        const lane = lanes[worker]
        if (lane === undefined || lane.head >= lane.headers.length) return undefined
        const next = lane.headers[lane.head]
        lane.head += 1
        return next
      },
      describe: () =>
        `${lanes.length} channels; ${signed} vouchers signed (libsecp256k1) and encoded in ` +
        `${(signingMs / 1000).toFixed(1)} s, all between windows`,
    }
  }
}

/** Every request re-sends one voucher worth the whole deposit, charged against its headroom. */
export function oneVoucherResent(options: { path: string }): TrafficFactory {
  return async (context) => {
    const url = `${context.url}${options.path}`
    const challenge = await holdChallenge(url)
    const price = challengePrice(challenge.current)
    const [channel] = await openChannels({
      devnet: context.devnet,
      url: context.url,
      path: options.path,
      count: 1,
      deposit: context.deposit,
      decimals: context.decimals,
    })
    if (!channel) throw new Error('no channel was opened')
    const sign = createNativeVoucherSigner({
      chainId: context.devnet.chainId,
      escrow: context.devnet.escrow,
      privateKey: channel.payer.privateKey,
    })
    const voucher = {
      cumulative: channel.deposit,
      signature: sign(channel.channelId, channel.deposit),
    }
    const build = (): LoadRequest => ({
      path: options.path,
      headers: {
        authorization: voucherCredential({
          challenge: challenge.current,
          channel,
          chainId: context.devnet.chainId,
          cumulative: voucher.cumulative,
          signature: voucher.signature,
        }),
      },
    })
    let request = build()
    let sent = 0
    // Counted per request sent, answered or not: an upper bound on what the channel spent. The
    // open's voucher already paid for one request.
    let headroom = (channel.deposit - channel.openedAt) / price

    return {
      async prepare() {
        if (await challenge.refresh()) request = build()
        return Number(headroom)
      },
      next() {
        if (headroom <= 0n) return undefined
        headroom -= 1n
        sent += 1
        return request
      },
      describe: () =>
        `1 channel; 1 voucher of ${voucher.cumulative} base units sent ${sent} times, ` +
        `${headroom} requests of headroom left`,
    }
  }
}
