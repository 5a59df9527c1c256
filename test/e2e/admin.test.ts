/**
 * The admin API end to end: a gateway on the devnet with a Redis ledger and its settler running,
 * real mppx clients paying, and the `mpp-gateway admin …` commands run as child processes against
 * its admin listener. Listing and inspecting show the ledger's and the chain's figures; settle-now
 * puts exactly what was spent on chain; a block refuses the payer's next voucher (no upstream
 * call, no charge — at another instance on the same Redis too) and its next top-up and open
 * (nothing broadcast), settles its channel at once, and still lets it close.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { tempo } from 'mppx/client'
import type { Address, Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { escrowAbi } from '../../src/chain/escrow-abi.js'
import type { Gateway } from '../../src/gateway.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { createRedisSettlementStore } from '../../src/ledger/redis/settlement-store.js'
import { connectDevnet, type DevnetClient, type DevnetKey } from '../devnet/devnet.js'
import { cliOutput } from '../support/cli-process.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { devnetConfig, memoryLogger, startTestGateway } from '../support/gateway.js'
import { freePort, startRedisServer, type RedisServer } from '../support/redis-server.js'
import { until, holdsConfirmed } from '../support/wait.js'
import { parseDocument } from 'yaml'
import { readFileSync } from 'node:fs'

const price = 10_000n
const paidPath = '/v1/execution/a/results'
const adminToken = 'e2e-admin-token-0123456789abcdefghijkl'

/** What the admin commands print, loosely: the fields these tests read. */
type Row = { readonly channelId: string } & Record<string, unknown>
type AdminAnswer = {
  readonly channels: Row[]
  readonly settlements: Row[]
  readonly payers: unknown[]
  readonly count: number
} & Record<string, unknown>

describe('the admin API on the devnet with Redis', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let redis: RedisServer
  let ledger: RedisLedger
  let gateway: Gateway
  /** A second instance on the same Redis, without an admin API: blocks reach it through Redis. */
  let other: Gateway
  let dir: string
  let configFile: string
  const { logger, lines } = memoryLogger()

  beforeAll(async () => {
    devnet = connectDevnet(inject('devnet'))
    upstream = await startExampleUpstream()
    redis = await startRedisServer({ appendonly: true, appendfsync: 'always' })
    ledger = await createRedisLedger({ url: redis.url, keyPrefix: 'admin:' })
    const adminPort = await freePort()
    const edit = (doc: ReturnType<typeof parseDocument>) => {
      doc.setIn(['ledger'], { type: 'redis', redis: { url: redis.url, keyPrefix: 'admin:' } })
      doc.setIn(['session', 'suggestedDeposit'], '1')
      // The settler runs, but nothing is due by its own policy: only the operator settles here.
      doc.setIn(['settlement'], {
        amountThreshold: '1000',
        maxUnsettledSeconds: 86400,
        pollIntervalMs: 200,
        lockTtlMs: 2000,
        onShutdown: false,
      })
      doc.setIn(['admin'], { token: '${ADMIN_TOKEN}', port: adminPort })
    }
    gateway = await startTestGateway({
      config: devnetConfig({
        devnet,
        upstreamUrl: upstream.url,
        edit,
        extraEnv: { ADMIN_TOKEN: adminToken },
      }),
      logger,
    })
    other = await startTestGateway({
      config: devnetConfig({
        devnet,
        upstreamUrl: upstream.url,
        edit: (doc) => {
          edit(doc)
          doc.deleteIn(['admin'])
          doc.setIn(['settlement'], { enabled: false })
        },
      }),
    })
    expect(other.admin).toBeUndefined()
    // The file an operator's shell would point the CLI at: the same configuration.
    const doc = parseDocument(
      readFileSync(new URL('../../config/devnet.yaml', import.meta.url), 'utf8'),
    )
    edit(doc)
    dir = mkdtempSync(join(tmpdir(), 'mppgw-admin-'))
    configFile = join(dir, 'gateway.yaml')
    writeFileSync(configFile, doc.toString())
  })
  afterAll(async () => {
    await other?.stop()
    await gateway?.stop()
    await ledger?.close()
    await redis?.stop()
    await upstream?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  /** `mpp-gateway admin …` as a child process; stdout parsed as JSON. */
  async function admin(args: string[], token = adminToken) {
    const out = await cliOutput(['admin', ...args, '--config', configFile], {
      ADMIN_TOKEN: token,
    })
    return { ...out, json: (out.stdout === '' ? {} : JSON.parse(out.stdout)) as AdminAnswer }
  }

  async function payingSession(requests: number) {
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '1',
    })
    for (let i = 0; i < requests; i++) {
      const response = await session.fetch(`${gateway.url}${paidPath}`)
      expect(response.status).toBe(200)
      await response.arrayBuffer()
    }
    return { payer, session, channelId: session.channelId! }
  }

  const chainState = (channelId: Hex) =>
    devnet.publicClient.readContract({
      address: devnet.escrow,
      abi: escrowAbi,
      functionName: 'getChannelState',
      args: [channelId],
    })

  it('refuses requests without the token or with a wrong one (401 problem), over HTTP and from the CLI', async () => {
    const url = gateway.admin!.url
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    for (const headers of [{}, { authorization: 'Bearer wrong-token-0123456789abcdefghijklmn' }]) {
      const response = await fetch(`${url}/v1/channels`, { headers })
      expect(response.status).toBe(401)
      expect(response.headers.get('content-type')).toBe('application/problem+json')
      expect(await response.json()).toMatchObject({ code: 'admin-unauthorized', status: 401 })
    }
    // Not on the payment port.
    expect((await fetch(`${gateway.url}/v1/channels`)).status).toBe(404)

    const refused = await admin(['channels'], 'wrong-token-0123456789abcdefghijklmn')
    expect(refused.code).toBe(1)
    expect(refused.json).toMatchObject({ code: 'admin-unauthorized' })
    expect(refused.stderr).toContain('401 admin-unauthorized')
    expect(JSON.stringify(lines)).not.toContain(adminToken)
  })

  it('lists and inspects a paid channel, then settles exactly what was spent on chain', async () => {
    const { payer, channelId } = await payingSession(3)
    const id = channelId.toLowerCase()

    const listed = await admin(['channels', '--unsettled'])
    expect(listed.code, listed.stderr).toBe(0)
    const row = listed.json.channels.find((c) => c.channelId === id)
    expect(row).toMatchObject({
      payer: payer.address.toLowerCase(),
      status: 'open',
      spent: String(3n * price),
      settled: '0',
      exposure: { spent: String(3n * price) },
      forcedCloseDeadline: null,
    })

    const inspected = await admin(['channel', channelId])
    expect(inspected.code).toBe(0)
    const onChain = await chainState(channelId)
    expect(inspected.json).toMatchObject({
      channelId: id,
      spent: String(3n * price),
      settleable: String(3n * price),
      chain: { deposit: String(onChain.deposit), settled: '0', forcedCloseDeadline: null },
      pendingSettlement: null,
      payerBlocked: null,
    })

    const settled = await admin(['settle', channelId])
    expect(settled.code, settled.stderr).toBe(0)
    expect(settled.json).toMatchObject({
      kind: 'settled',
      action: 'settle',
      channelId: id,
      settled: String(3n * price),
    })
    expect((await chainState(channelId)).settled).toBe(3n * price)
    expect((await ledger.get(channelId))!.settled).toBe(3n * price)

    // Nothing left: a second settle sends nothing.
    const again = await admin(['settle', channelId])
    expect(again.code).toBe(0)
    expect(again.json).toEqual({ kind: 'nothing-due', channelId: id })
    expect((await chainState(channelId)).settled).toBe(3n * price)
  }, 120_000)

  it('never writes a channel another writer holds: busy after a lock TTL, nothing sent', async () => {
    const { channelId } = await payingSession(1)
    const id = channelId.toLowerCase()
    const store = createRedisSettlementStore({ client: ledger.client, keyPrefix: 'admin:' })
    const lease = await store.acquire(id as Hex, 'another-instance', 60_000)
    expect(lease).toBeDefined()
    const held = await admin(['settle', channelId])
    expect(held.code, held.stderr).toBe(4)
    expect(held.json).toEqual({ kind: 'busy', channelId: id })
    expect(await store.intent(id as Hex)).toBeUndefined()
    expect((await chainState(channelId)).settled).toBe(0n)

    await store.release(lease!)
    const settled = await admin(['settle', channelId])
    expect(settled.code, settled.stderr).toBe(0)
    expect(settled.json).toMatchObject({ kind: 'settled', settled: String(price) })
    expect((await chainState(channelId)).settled).toBe(price)
  }, 120_000)

  it('settles every channel with unsettled value at once', async () => {
    const a = await payingSession(2)
    const b = await payingSession(1)
    const all = await admin(['settle', '--all'])
    expect(all.code, all.stderr).toBe(0)
    const byId = new Map(all.json.settlements.map((s) => [s.channelId, s] as const))
    expect(byId.get(a.channelId.toLowerCase())).toMatchObject({ kind: 'settled', settled: '20000' })
    expect(byId.get(b.channelId.toLowerCase())).toMatchObject({ kind: 'settled', settled: '10000' })
    expect((await chainState(a.channelId)).settled).toBe(2n * price)
    expect((await chainState(b.channelId)).settled).toBe(price)
    const left = await admin(['channels', '--unsettled'])
    expect(left.json.count).toBe(0)
  }, 120_000)

  it('blocks a payer: its channel settled at once, its next voucher, top-up and open refused, its close accepted', async () => {
    const { payer, session, channelId } = await payingSession(2)
    const address = payer.address.toLowerCase() as Address

    const blocked = await admin(['block', payer.address, '--reason', 'e2e'])
    expect(blocked.code, blocked.stderr).toBe(0)
    expect(blocked.json).toMatchObject({
      payer: address,
      blocked: true,
      already: false,
      reason: 'e2e',
      settlements: [{ kind: 'settled', channelId: channelId.toLowerCase(), settled: '20000' }],
    })
    expect((await chainState(channelId)).settled).toBe(2n * price)
    expect((await admin(['blocked'])).json.payers).toEqual([
      expect.objectContaining({ payer: address, reason: 'e2e' }),
    ])

    // The next voucher, at the other instance: refused, not forwarded, not charged. That instance
    // reads blocks from its own copy of the Redis hash, renewed every second: wait until it has it.
    await until('the other instance sees the block', async () =>
      (await other.deps.ledger.blocks.get(payer.address)) ? true : undefined,
    )
    await holdsConfirmed(ledger, channelId)
    const before = await ledger.get(channelId)
    const forwarded = upstream.seen.length
    const refused = await session.fetch(`${other.url}${paidPath}`)
    expect(refused.status).toBe(403)
    expect(await refused.json()).toMatchObject({
      code: 'payer-blocked',
      details: { payer: address },
    })
    expect(upstream.seen.length).toBe(forwarded)
    const after = await ledger.get(channelId)
    expect(after!.spent).toBe(before!.spent)
    expect(after!.accepted.cumulative).toBe(before!.accepted.cumulative)

    // A top-up: refused before its transaction is broadcast.
    const balance = await devnet.balance(payer.address)
    const topUp = await session.topUp('0.1').then(
      () => 'accepted',
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    )
    expect(topUp).toContain('403')
    expect(await devnet.balance(payer.address)).toBe(balance)
    expect((await chainState(channelId)).deposit).toBe(before!.deposit)
    expect((await ledger.get(channelId))!.deposit).toBe(before!.deposit)

    // A new channel of the same payer: refused before anything is broadcast.
    const fresh = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '1',
    })
    const open = await fresh.fetch(`${gateway.url}${paidPath}`)
    expect(open.status).toBe(403)
    expect(await devnet.balance(payer.address)).toBe(balance)
    expect(upstream.seen.length).toBe(forwarded)

    // A close still goes through: the payer gets back everything not spent.
    await session.close()
    const closed = await ledger.get(channelId)
    expect(closed).toMatchObject({ status: 'finalized', spent: 2n * price, settled: 2n * price })
    expect((await chainState(channelId)).deposit).toBe(0n)

    const lifted = await admin(['unblock', payer.address])
    expect(lifted.code).toBe(0)
    expect(lifted.json).toEqual({ payer: address, blocked: false, lifted: true })
    expect((await admin(['blocked'])).json.payers).toEqual([])
  }, 120_000)

  it('answers usage mistakes with exit code 2 and an unknown channel with a 404 problem', async () => {
    const usage = await admin(['settle'])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain('admin settle needs a channel id (or --all)')
    const unknown = await admin(['channel', `0x${'00'.repeat(32)}`])
    expect(unknown.code).toBe(1)
    expect(unknown.json).toMatchObject({ code: 'admin-not-found', status: 404 })
  }, 60_000)
})
