/**
 * `npm run fuzz -- --count=N --seed=S`: a credential and request-target fuzzer against a running
 * gateway with a real open channel.
 *
 * Starts a devnet, a loopback example upstream and a gateway on config/devnet.yaml (memory
 * ledger); the real mppx client opens a channel and pays two requests. Then N requests built by
 * scripts/fuzz/cases.ts from that channel's last, correctly signed voucher — which can never pay
 * again, since it equals what was spent — go to the gateway, 16 at a time. It prints the statuses,
 * the problem codes, how many requests reached the upstream, whether the channel's ledger record
 * changed, chain transactions sent, and error-level log lines; it exits 1 unless there were no
 * 5xx answers, no upstream calls, no ledger change, no transactions and no error lines.
 *
 * Bounded: `--count` at most 10,000,000, and the run stops after `--max-seconds` (default 1800)
 * whatever the count, saying so.
 */
import { parseArgs } from 'node:util'
import { tempo } from 'mppx/client'
import { Pool } from 'undici'
import { startGateway } from '../src/gateway.js'
import { createLogger } from '../src/logger.js'
import { devnetInfo, startDevnet, type DevnetKey } from '../test/devnet/devnet.js'
import { startExampleUpstream } from '../test/support/example-upstream.js'
import { devnetConfig } from '../test/support/gateway.js'
import { fetchChallenge, voucherSigner } from '../test/support/vouchers.js'
import { fuzzCase, seeded, type FuzzCase } from './fuzz/cases.js'

const paidPath = '/v1/execution/x/results'
const concurrency = 16

function options() {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      count: { type: 'string', default: '10000' },
      seed: { type: 'string', default: '1' },
      'max-seconds': { type: 'string', default: '1800' },
    },
  })
  const count = Number(values.count)
  const seed = Number(values.seed)
  const maxSeconds = Number(values['max-seconds'])
  if (!Number.isInteger(count) || count < 1 || count > 10_000_000) {
    throw new Error('--count must be an integer from 1 to 10000000')
  }
  if (!Number.isInteger(seed)) throw new Error('--seed must be an integer')
  if (!(maxSeconds > 0)) throw new Error('--max-seconds must be positive')
  return { count, seed, maxSeconds }
}

/** Counts log lines by level and keeps the first few at warn and above. */
function countingLog() {
  const levels = new Map<number, number>()
  const samples: string[] = []
  const destination = {
    write(line: string) {
      const { level } = JSON.parse(line) as { level: number }
      levels.set(level, (levels.get(level) ?? 0) + 1)
      if (level >= 40 && samples.length < 5) samples.push(line.trim().slice(0, 400))
    },
  }
  return { logger: createLogger({ level: 'info', destination }), levels, samples }
}

const increment = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1)
const sorted = (map: Map<string, number>) =>
  [...map.entries()].sort((a, b) => b[1] - a[1]).map(([key, n]) => `${key} ${n}`)

async function main() {
  const { count, seed, maxSeconds } = options()
  console.log(`fuzz: ${count} requests, seed ${seed}, at most ${maxSeconds} s`)
  const devnet = await startDevnet({ payers: 1 })
  const upstream = await startExampleUpstream()
  const log = countingLog()
  const gateway = await startGateway({
    config: devnetConfig({ devnet: devnetInfo(devnet), upstreamUrl: upstream.url }),
    logger: log.logger,
    accessLogger: createLogger({ level: 'warn' }),
    host: '127.0.0.1',
    port: 0,
  })
  const client = new Pool(gateway.url, { connections: concurrency, pipelining: 1 })
  try {
    const payer = devnet.payers[0] as DevnetKey
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '1',
    })
    for (let i = 0; i < 2; i++) {
      const response = await session.fetch(`${gateway.url}${paidPath}`)
      if (response.status !== 200) throw new Error(`setup payment answered ${response.status}`)
      await response.arrayBuffer()
    }
    const channelId = session.channelId as `0x${string}`
    const before = (await gateway.deps.ledger.get(channelId))!
    const replay = await voucherSigner({
      payerKey: payer.privateKey,
      chainId: devnet.chainId,
      escrow: devnet.escrow,
      channelId,
      descriptor: before.descriptor,
      challenge: await fetchChallenge(`${gateway.url}${paidPath}`),
    }).credential(before.accepted.cumulative)
    console.log(
      `channel ${channelId}: deposit ${before.deposit}, accepted ${before.accepted.cumulative}, spent ${before.spent}`,
    )

    const material = {
      replay,
      paidGet: [
        (id: string) => `/v1/execution/${id}/results`,
        (id: string) => `/v1/execution/${id}/results/csv`,
      ],
      paidPost: '/v1/sql/execute',
    }
    const random = seeded(seed)
    const seenBefore = upstream.seen.length
    const callsBefore = devnet.proxy.calls.length
    const statuses = new Map<string, number>()
    const codes = new Map<string, number>()
    const fivexx: string[] = []
    const started = Date.now()
    const deadline = started + maxSeconds * 1000
    let sent = 0

    const send = async (c: FuzzCase) => {
      try {
        const response = await client.request({
          method: c.method,
          path: c.path,
          headers: c.headers,
          ...(c.body === undefined ? {} : { body: c.body }),
        })
        const text = await response.body.text()
        increment(statuses, String(response.statusCode))
        // A HEAD answer has the problem's headers but no body.
        if (text !== '' && String(response.headers['content-type']).includes('problem')) {
          increment(codes, (JSON.parse(text) as { code: string }).code)
        }
        if (response.statusCode >= 500 && fivexx.length < 10) {
          fivexx.push(`${c.kind} ${c.method} ${c.path.slice(0, 80)} → ${text.slice(0, 200)}`)
        }
      } catch (error) {
        const code = (error as { code?: string }).code ?? 'error'
        // undici refuses some requests before sending them; Node's parser refuses some targets
        // outright and closes the connection.
        increment(statuses, code === 'UND_ERR_INVALID_ARG' ? 'not sent' : `closed (${code})`)
      }
    }
    const worker = async () => {
      while (sent < count && Date.now() < deadline) {
        sent += 1
        await send(fuzzCase(random, material))
      }
    }
    const progress = setInterval(() => {
      const seconds = (Date.now() - started) / 1000
      console.log(`  ${sent} sent, ${Math.round(sent / seconds)}/s`)
    }, 10_000)
    await Promise.all(Array.from({ length: concurrency }, worker))
    clearInterval(progress)
    const seconds = (Date.now() - started) / 1000

    const after = (await gateway.deps.ledger.get(channelId))!
    const changed =
      JSON.stringify({ ...after, updatedAt: 0 }, (_, v: unknown) =>
        typeof v === 'bigint' ? v.toString() : v,
      ) !==
      JSON.stringify({ ...before, updatedAt: 0 }, (_, v: unknown) =>
        typeof v === 'bigint' ? v.toString() : v,
      )
    const upstreamCalls = upstream.seen.length - seenBefore
    const transactions = devnet.proxy.calls
      .slice(callsBefore)
      .filter((call) => call.method.startsWith('eth_sendRawTransaction')).length
    const errorLines = [...log.levels.entries()]
      .filter(([level]) => level >= 50)
      .reduce((sum, [, n]) => sum + n, 0)
    const fivexxCount = [...statuses.entries()]
      .filter(([status]) => status.startsWith('5'))
      .reduce((sum, [, n]) => sum + n, 0)

    console.log(`\nsent ${sent} in ${seconds.toFixed(1)} s (${Math.round(sent / seconds)}/s)`)
    if (sent < count) console.log(`stopped at --max-seconds ${maxSeconds} before --count ${count}`)
    console.log(`statuses: ${sorted(statuses).join(', ')}`)
    console.log(`problem codes: ${sorted(codes).join(', ')}`)
    console.log(`5xx: ${fivexxCount}`)
    for (const line of fivexx) console.log(`  ${line}`)
    console.log(`upstream calls: ${upstreamCalls}`)
    console.log(`ledger changed: ${changed ? 'yes' : 'no'} (spent ${after.spent})`)
    console.log(`chain transactions sent: ${transactions}`)
    console.log(`log lines at error level: ${errorLines}; warn and above (first 5):`)
    for (const line of log.samples) console.log(`  ${line}`)
    const clean =
      fivexxCount === 0 && upstreamCalls === 0 && !changed && transactions === 0 && errorLines === 0
    console.log(clean ? 'OK' : 'FAILED')
    process.exitCode = clean ? 0 : 1
  } finally {
    await client.close()
    await gateway.stop()
    await upstream.close()
    await devnet.stop()
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
