/**
 * What one settlement transaction costs the gateway process in CPU: a gateway child on the devnet
 * (memory ledger, settler on but never due by itself), N channels opened by the real mppx client
 * and paid with a few libsecp256k1-signed vouchers each, then ONE admin "settle all"
 * (`POST /v1/settle`, docs/admin.md) that settles every channel — one `settle` transaction each —
 * and answers once every receipt is recorded. The figure is the child's CPU time over that request
 * minus what the child spends idle for as long (its settler and close watcher poll, and the
 * devnet's blocks keep coming), divided by the transactions that landed.
 *
 * Invariants:
 * - the paying (mppx opens, voucher signing, paid requests) happens before the measured phase;
 * - the settle phase counts only if every channel was settled, and the chain agrees: each
 *   channel's settled amount on chain equals what it spent; anything else throws;
 * - the child's CPU is read over IPC (children.ts), never estimated from the outside.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { escrowAbi } from '../../src/chain/escrow-abi.js'
import type { DevnetClient } from '../../test/devnet/devnet.js'
import { freePort } from '../../test/devnet/anvil.js'
import { devnetConfig } from '../../test/support/gateway.js'
import type { Child, ChildSet } from './children.js'
import { writeGatewaySpec, type GatewayRuntime } from './gateway-spec.js'
import { paidPath } from './rows.js'
import {
  challengePrice,
  createNativeVoucherSigner,
  fetchChallenge,
  openChannels,
  voucherCredential,
  type BenchChannel,
} from './vouchers.js'

/** The performance issue's bound on the gateway's CPU per settlement transaction, in ms. */
export const settleTargetMs = 3

export type SettlementCostOptions = {
  readonly devnet: DevnetClient
  /** Where the gateway child is started (and stopped with the rest at the end). */
  readonly children: ChildSet
  /** The example upstream the gateway forwards to. */
  readonly upstreamUrl: string
  /** A private directory for the gateway's spec file (it holds the payee key). */
  readonly tempDir: string
  /** Channels to open and settle: one settle transaction each (default 64). */
  readonly channels?: number
  /** Paid requests per channel after the one that opens it (default 3). */
  readonly paymentsPerChannel?: number
  /** How long the idle baseline is measured, in ms (default 3000). */
  readonly idleMs?: number
  readonly runtime: GatewayRuntime
  /** Extra Node flags for the gateway child (e.g. `--cpu-prof`). */
  readonly nodeFlags?: readonly string[]
  /** Where the gateway's log lines go (default: discarded). */
  readonly logFile?: string
}

export type SettlementCost = {
  /** Settle transactions that landed (one per channel). */
  readonly transactions: number
  /** Wall time of the settle-all request, in ms. */
  readonly settleWallMs: number
  /** The gateway's CPU time over the settle-all request, in ms. */
  readonly settleCpuMs: number
  /** The gateway's CPU time per second of the idle baseline, in ms. */
  readonly idleCpuMsPerSecond: number
  /** (settle CPU − idle CPU for as long) / transactions, in ms. */
  readonly cpuMsPerTransaction: number
}

/** Deposit of each channel, in currency units: a few requests at the demo price need little. */
const channelDeposit = '1'

/** Gateway CPU time in ms (children.ts reports microseconds). */
const cpuMs = async (child: Child) => (await child.cpuMicros()) / 1000

/** Starts a gateway child for the measurement: admin API on, settler on but never due by itself. */
async function startSettlingGateway(options: SettlementCostOptions, token: string) {
  const adminPort = await freePort()
  const config = devnetConfig({
    devnet: options.devnet,
    upstreamUrl: options.upstreamUrl,
    extraEnv: { BENCH_ADMIN_TOKEN: token },
    edit: (doc) => {
      doc.setIn(['session', 'suggestedDeposit'], channelDeposit)
      doc.setIn(['admin'], { token: '${BENCH_ADMIN_TOKEN}', port: adminPort })
      // Due only when asked: the measured phase is the operator's settle-all, nothing before it.
      doc.setIn(['settlement'], {
        amountThreshold: '1000000',
        depositPercent: 100,
        maxUnsettledSeconds: 86_400,
      })
    },
  })
  const specPath = join(options.tempDir, 'gateway-settlement-cost.json')
  writeGatewaySpec(specPath, {
    name: 'settlement-cost',
    config,
    payments: true,
    runtime: options.runtime,
    logFile: options.logFile ?? '/dev/null',
    accessLog: false,
  })
  const child = await options.children.start({
    name: 'gateway settlement-cost',
    entry: fileURLToPath(new URL('./gateway-process.ts', import.meta.url)),
    args: [specPath],
    nodeFlags: options.nodeFlags ?? [],
  })
  return {
    child,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    deposit: config.session.suggestedDeposit.amount,
    decimals: config.currency.decimals,
  }
}

/** Pays `count` requests on `channel`, each with a new voucher; returns the channel's spent. */
async function pay(options: {
  devnet: DevnetClient
  url: string
  channel: BenchChannel
  count: number
}): Promise<bigint> {
  const { devnet, channel } = options
  const sign = createNativeVoucherSigner({
    chainId: devnet.chainId,
    escrow: devnet.escrow,
    privateKey: channel.payer.privateKey,
  })
  let cumulative = channel.openedAt
  for (let i = 0; i < options.count; i++) {
    const challenge = await fetchChallenge(`${options.url}${paidPath}`)
    cumulative += challengePrice(challenge)
    const response = await fetch(`${options.url}${paidPath}`, {
      headers: {
        authorization: voucherCredential({
          challenge,
          channel,
          chainId: devnet.chainId,
          cumulative,
          signature: sign(channel.channelId, cumulative),
        }),
      },
    })
    await response.arrayBuffer()
    if (response.status !== 200) throw new Error(`a paid request answered ${response.status}`)
  }
  return cumulative
}

/**
 * Measures the gateway's CPU per settlement transaction (see the module header). The gateway
 * child stays running in `children` until the caller stops them.
 */
export async function measureSettlementCost(
  options: SettlementCostOptions,
): Promise<SettlementCost> {
  const { devnet } = options
  const count = options.channels ?? 64
  const token = randomBytes(24).toString('hex')
  const gateway = await startSettlingGateway(options, token)

  const channels = await openChannels({
    devnet,
    url: gateway.child.url,
    path: paidPath,
    count,
    deposit: gateway.deposit,
    decimals: gateway.decimals,
  })
  const spent = await Promise.all(
    channels.map((channel) =>
      pay({
        devnet,
        url: gateway.child.url,
        channel,
        count: options.paymentsPerChannel ?? 3,
      }),
    ),
  )

  // Idle baseline: the same process with the same channels, settler and watcher polling.
  const idleMs = options.idleMs ?? 3_000
  const idleStart = await cpuMs(gateway.child)
  const idleWall = performance.now()
  await new Promise((resolve) => setTimeout(resolve, idleMs))
  const idleCpu = (await cpuMs(gateway.child)) - idleStart
  const idleCpuMsPerSecond = (idleCpu / (performance.now() - idleWall)) * 1000

  const before = await cpuMs(gateway.child)
  const started = performance.now()
  const response = await fetch(`${gateway.adminUrl}/v1/settle?limit=${count}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  })
  const body = (await response.json()) as { settlements?: { kind: string }[] }
  const settleWallMs = performance.now() - started
  const settleCpuMs = (await cpuMs(gateway.child)) - before
  if (response.status !== 200) throw new Error(`settle all answered ${response.status}`)

  const kinds = (body.settlements ?? []).map((s) => s.kind)
  const transactions = kinds.filter((kind) => kind === 'settled').length
  if (transactions !== count) {
    throw new Error(`settle all settled ${transactions} of ${count} channels: ${kinds.join(', ')}`)
  }
  const states = await devnet.publicClient.readContract({
    address: devnet.escrow,
    abi: escrowAbi,
    functionName: 'getChannelStatesBatch',
    args: [channels.map((c) => c.channelId)],
  })
  states.forEach((state, i) => {
    if (state.settled !== spent[i]) {
      throw new Error(
        `channel ${channels[i]!.channelId} settled ${state.settled}, spent ${spent[i]}`,
      )
    }
  })

  const idleShare = (idleCpuMsPerSecond * settleWallMs) / 1000
  return {
    transactions,
    settleWallMs,
    settleCpuMs,
    idleCpuMsPerSecond,
    cpuMsPerTransaction: (settleCpuMs - idleShare) / transactions,
  }
}
