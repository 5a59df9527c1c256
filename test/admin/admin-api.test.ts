/**
 * The admin API in process (`app.request()`): the bearer token guards every path and is never
 * logged; inputs are checked; channels are listed with their exposure; a block is stored in the
 * ledger and settles the payer's channels through the settler. The settler here is a recording
 * fake; the devnet suite (test/e2e/admin.test.ts) settles for real.
 */
import type { Address, Hex } from 'viem'
import { beforeEach, describe, expect, it } from 'vitest'
import { createAdminOperations } from '../../src/admin/operations.js'
import { createAdminApp } from '../../src/http/admin.js'
import { createMemoryLedger, type MemoryLedger } from '../../src/ledger/memory.js'
import type { ChannelSettlement, Settler } from '../../src/settlement/settler.js'
import { createMemorySettlementStore } from '../../src/settlement/store.js'
import { chargeInput, newChannel } from '../ledger/contract.js'
import { memoryLogger } from '../support/gateway.js'

const token = 'admin-token-for-tests-0123456789abcdef'
const payer: Address = '0x1111111111111111111111111111111111111111'
const other: Address = '0x3333333333333333333333333333333333333333'
const now = 1_800_000_000_000

let ledger: MemoryLedger
let settled: Hex[][]
let lines: Record<string, unknown>[]
let app: ReturnType<typeof createAdminApp>

const settler: Settler = {
  start() {},
  async runOnce() {},
  nudge() {},
  charged() {},
  async stop() {},
  async settleNow(ids) {
    settled.push([...ids])
    return ids.map((channelId): ChannelSettlement => ({
      kind: 'settled',
      channelId,
      action: 'settle',
      txHash: `0x${'ab'.repeat(32)}`,
      cumulative: 30n,
      settled: 30n,
    }))
  },
}

async function charged(owner: Address, cumulative: bigint) {
  const channel = newChannel(1_000n, owner)
  await ledger.open(channel, now)
  expect((await ledger.authorize(chargeInput(channel.channelId, cumulative, now))).kind).toBe(
    'authorized',
  )
  return channel.channelId
}

const call = (path: string, init: RequestInit & { auth?: string | null } = {}) => {
  const { auth = `Bearer ${token}`, ...rest } = init
  return app.request(path, {
    ...rest,
    headers: { ...(auth === null ? {} : { authorization: auth }), ...rest.headers },
  })
}

beforeEach(() => {
  ledger = createMemoryLedger()
  settled = []
  const logged = memoryLogger()
  lines = logged.lines
  app = createAdminApp({
    token,
    operations: createAdminOperations({
      ledger,
      index: ledger.index,
      store: createMemorySettlementStore(() => now),
      escrow: {
        readState: async () => ({ deposit: 1_000n, settled: 0n, closeRequestedAt: 1_799_999_000 }),
      },
      settler,
      logger: logged.logger,
      now: () => now,
    }),
    logger: logged.logger,
    now: () => now,
  })
})

describe('admin API: the bearer token', () => {
  it('refuses a request without it, with a wrong one, or a malformed header: 401 problem', async () => {
    for (const auth of [
      null,
      'Bearer wrong-token-of-the-same-kind-0123456789',
      `Bearer ${token}x`,
      `Basic ${token}`,
      'Bearer ',
      `Bearer ${token} extra`,
    ]) {
      const response = await call('/v1/channels', { auth })
      expect(response.status, String(auth)).toBe(401)
      expect(response.headers.get('content-type')).toBe('application/problem+json')
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="mpp-gateway admin"')
      expect(response.headers.get('cache-control')).toBe('no-store')
      expect(await response.json()).toMatchObject({
        code: 'admin-unauthorized',
        status: 401,
        type: 'https://mpp-gateway.dev/problems/admin-unauthorized',
      })
    }
    // Unknown paths too: nothing about the API is told without the token.
    expect((await call('/nowhere', { auth: null })).status).toBe(401)
    // Refused requests change nothing.
    expect((await call(`/v1/payers/${payer}/block`, { method: 'PUT', auth: null })).status).toBe(
      401,
    )
    expect(await ledger.blocks.get(payer)).toBeUndefined()
  })

  it('logs one line per request, never the token', async () => {
    await call('/v1/channels')
    await call('/v1/channels', { auth: 'Bearer not-the-token-0123456789abcdef' })
    const requests = lines.filter((l) => l.msg === 'admin request')
    expect(requests.map((l) => l.status)).toEqual([200, 401])
    expect(JSON.stringify(lines)).not.toContain(token)
    expect(JSON.stringify(lines)).not.toContain('not-the-token')
  })
})

describe('admin API: channels', () => {
  it('lists open or unsettled channels with exposure, largest first, with totals', async () => {
    const small = await charged(payer, 100n)
    const large = await charged(other, 400n)
    const idle = newChannel(1_000n, other)
    await ledger.open(idle, now)
    const listed = (await (await call('/v1/channels')).json()) as {
      count: number
      exposure: { spent: string; accepted: string }
      channels: { channelId: Hex; exposure: { spent: string; accepted: string } }[]
    }
    expect(listed.count).toBe(3)
    expect(listed.channels.map((c) => c.channelId)).toEqual([
      large.toLowerCase(),
      small.toLowerCase(),
      idle.channelId.toLowerCase(),
    ])
    // chargeInput charges 10 per request.
    expect(listed.exposure).toEqual({ spent: '20', accepted: '500' })
    expect(listed.channels[0]!.exposure).toEqual({ spent: '10', accepted: '400' })

    const unsettled = (await (await call('/v1/channels?state=unsettled&limit=5')).json()) as {
      count: number
    }
    expect(unsettled.count).toBe(2)
  })

  it('inspects one channel: ledger and chain figures, forced-close deadline, payer block', async () => {
    const id = await charged(payer, 100n)
    await ledger.blocks.block(payer, { since: now, reason: 'abuse' })
    const response = await call(`/v1/channels/${id}`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({
      channelId: id.toLowerCase(),
      payer,
      status: 'open',
      deposit: '1000',
      accepted: '100',
      spent: '10',
      reserved: '0',
      settled: '0',
      units: 1,
      settleable: '0',
      exposure: { spent: '10', accepted: '100' },
      closeRequestedAt: null,
      forcedCloseDeadline: null,
      closeTxHash: null,
      updatedAt: new Date(now).toISOString(),
      chain: {
        deposit: '1000',
        settled: '0',
        closeRequestedAt: new Date(1_799_999_000_000).toISOString(),
        forcedCloseDeadline: new Date((1_799_999_000 + 900) * 1000).toISOString(),
        open: true,
      },
      pendingSettlement: null,
      payerBlocked: { payer, since: new Date(now).toISOString(), reason: 'abuse' },
    })
  })

  it('answers bad ids 400 and unknown channels and paths 404, as problems', async () => {
    for (const [path, method, status, code] of [
      ['/v1/channels/0x1234', 'GET', 400, 'admin-bad-request'],
      [`/v1/channels/0x${'00'.repeat(32)}`, 'GET', 404, 'admin-not-found'],
      [`/v1/channels/0x${'00'.repeat(32)}/settle`, 'POST', 404, 'admin-not-found'],
      ['/v1/channels?state=closed', 'GET', 400, 'admin-bad-request'],
      ['/v1/channels?limit=0', 'GET', 400, 'admin-bad-request'],
      ['/v1/payers/0x12/block', 'PUT', 400, 'admin-bad-request'],
      ['/v1/nothing', 'GET', 404, 'admin-not-found'],
    ] as const) {
      const response = await call(path, { method })
      expect(response.status, path).toBe(status)
      expect(await response.json()).toMatchObject({ code })
    }
    expect(settled).toEqual([])
  })

  it('settles one channel, or all unsettled ones, through the settler', async () => {
    const a = await charged(payer, 100n)
    const b = await charged(other, 100n)
    const one = await call(`/v1/channels/${a}/settle`, { method: 'POST' })
    expect(await one.json()).toMatchObject({ kind: 'settled', channelId: a.toLowerCase() })
    const all = (await (await call('/v1/settle', { method: 'POST' })).json()) as {
      count: number
    }
    expect(all.count).toBe(2)
    expect(settled).toEqual([
      [a.toLowerCase()],
      expect.arrayContaining([a, b].map((x) => x.toLowerCase())),
    ])
  })
})

describe('admin API: payers', () => {
  it('blocks a payer in the ledger and settles its channels; unblocks; lists blocks', async () => {
    const id = await charged(payer, 100n)
    await charged(other, 100n)
    const blocked = await call(`/v1/payers/${payer}/block`, {
      method: 'PUT',
      body: JSON.stringify({ reason: 'chargeback' }),
    })
    expect(blocked.status).toBe(200)
    expect(await blocked.json()).toMatchObject({
      payer,
      blocked: true,
      already: false,
      reason: 'chargeback',
      settlements: [{ kind: 'settled', channelId: id.toLowerCase() }],
    })
    expect(settled).toEqual([[id.toLowerCase()]])
    expect(await ledger.blocks.get(payer)).toMatchObject({ reason: 'chargeback' })

    const again = await call(`/v1/payers/${payer.toUpperCase().replace('0X', '0x')}/block`, {
      method: 'PUT',
    })
    expect(await again.json()).toMatchObject({ already: true, reason: 'chargeback' })

    expect(await (await call('/v1/payers/blocked')).json()).toEqual({
      count: 1,
      payers: [{ payer, since: new Date(now).toISOString(), reason: 'chargeback' }],
    })
    expect(await (await call(`/v1/payers/${payer}`)).json()).toMatchObject({
      payer,
      blocked: { reason: 'chargeback' },
      channels: [{ channelId: id.toLowerCase() }],
    })
    const lifted = await call(`/v1/payers/${payer}/block`, { method: 'DELETE' })
    expect(await lifted.json()).toEqual({ payer, blocked: false, lifted: true })
    expect(await ledger.blocks.get(payer)).toBeUndefined()
  })

  it('refuses a block body that is not {"reason": one line}', async () => {
    for (const body of [
      'not json',
      '[]',
      '{"why":"x"}',
      JSON.stringify({ reason: 'a\nb' }),
      JSON.stringify({ reason: 'x'.repeat(201) }),
    ]) {
      const response = await call(`/v1/payers/${payer}/block`, { method: 'PUT', body })
      expect(response.status, body).toBe(400)
      expect(await response.json()).toMatchObject({ code: 'admin-bad-request' })
    }
    const large = await call(`/v1/payers/${payer}/block`, {
      method: 'PUT',
      body: JSON.stringify({ reason: 'x'.repeat(5000) }),
    })
    expect(large.status).toBe(400)
    expect(await large.json()).toMatchObject({
      code: 'admin-bad-request',
      detail: 'The body may hold at most 4096 bytes.',
    })
    expect(await ledger.blocks.get(payer)).toBeUndefined()
  })
})
