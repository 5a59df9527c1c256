import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { adminEndpoint } from '../config/admin-endpoint.js'
import { adminCommand, runAdminCommand, type AdminCommand } from './cli.js'

const flags = { all: false, unsettled: false, limit: '1000', reason: undefined }
const id = `0x${'ab'.repeat(32)}`
const payer = `0x${'cd'.repeat(20)}`

describe('mpp-gateway admin: command lines', () => {
  it('maps each command to one request', () => {
    expect(adminCommand(['channels'], flags)).toEqual({
      method: 'GET',
      path: '/v1/channels?limit=1000',
      settles: false,
    })
    expect(adminCommand(['channels'], { ...flags, unsettled: true, limit: '5' })).toMatchObject({
      path: '/v1/channels?state=unsettled&limit=5',
    })
    expect(adminCommand(['channel', id], flags)).toMatchObject({
      method: 'GET',
      path: `/v1/channels/${id}`,
    })
    expect(adminCommand(['settle', id], flags)).toEqual({
      method: 'POST',
      path: `/v1/channels/${id}/settle`,
      settles: true,
    })
    expect(adminCommand(['settle'], { ...flags, all: true })).toMatchObject({
      method: 'POST',
      path: '/v1/settle?limit=1000',
      settles: true,
    })
    expect(adminCommand(['block', payer], { ...flags, reason: 'spam "bot"' })).toEqual({
      method: 'PUT',
      path: `/v1/payers/${payer}/block`,
      body: '{"reason":"spam \\"bot\\""}',
      settles: true,
    })
    expect(adminCommand(['unblock', payer], flags)).toMatchObject({ method: 'DELETE' })
    expect(adminCommand(['payer', payer], flags)).toMatchObject({ path: `/v1/payers/${payer}` })
    expect(adminCommand(['blocked'], flags)).toMatchObject({
      path: '/v1/payers/blocked?limit=1000',
    })
    // Arguments are path segments, never paths.
    expect(adminCommand(['channel', '../settle'], flags)).toMatchObject({
      path: '/v1/channels/..%2Fsettle',
    })
  })

  it('answers mistakes with a problem, never a request', () => {
    for (const [line, problem] of [
      [[], 'admin needs a command'],
      [['nope'], 'unknown admin command: nope'],
      [['channel'], 'admin channel needs a channel id'],
      [['channel', id, id], 'admin channel takes one channel id'],
      [['settle'], 'admin settle needs a channel id (or --all)'],
      [['blocked', payer], 'admin blocked takes no argument'],
    ] as const) {
      expect(adminCommand(line, flags), line.join(' ')).toEqual({ problem })
    }
    expect(adminCommand(['settle', id], { ...flags, all: true })).toEqual({
      problem: 'admin settle takes a channel id or --all, not both',
    })
  })
})

describe('mpp-gateway admin: the endpoint from gateway.yaml', () => {
  it('reads admin.host, port and token alone, with ${ENV}', () => {
    const text = 'server: {broken: [\n'
    expect(adminEndpoint(text, {})).toEqual({ ok: false, problem: 'the file is not valid YAML' })
    const yaml = `server:\n  challengeSecret: \${UNSET}\nadmin:\n  token: \${ADMIN}\n  port: 9191\n`
    expect(adminEndpoint(yaml, { ADMIN: 't'.repeat(32) })).toEqual({
      ok: true,
      endpoint: { url: 'http://127.0.0.1:9191', token: 't'.repeat(32) },
    })
    expect(adminEndpoint('admin:\n  token: x\n  host: "::1"\n', {})).toMatchObject({
      endpoint: { url: 'http://[::1]:9090' },
    })
    const missing = adminEndpoint('admin:\n  token: ${ADMIN}\n', {})
    expect(missing).toMatchObject({ ok: false })
    expect(adminEndpoint('server: {}\n', {})).toMatchObject({ ok: false })
    expect(adminEndpoint('admin:\n  token: x\n  port: 0\n', {})).toMatchObject({ ok: false })
  })
})

describe('mpp-gateway admin: answers and exit codes', () => {
  let close: (() => Promise<void>) | undefined
  afterEach(async () => {
    await close?.()
    close = undefined
  })

  /** A loopback server answering every request with `status` and `body`; records what it got. */
  async function answering(status: number, body: unknown) {
    const seen: {
      method: string | undefined
      url: string | undefined
      authorization: string | undefined
    }[] = []
    const server = createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization })
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    close = () => new Promise((resolve) => server.close(() => resolve()))
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
  }

  async function run(url: string, command: AdminCommand) {
    const out: string[] = []
    const err: string[] = []
    const code = await runAdminCommand({ url, token: 'the-token' }, command, {
      out: (t) => out.push(t),
      err: (t) => err.push(t),
    })
    return { code, out: out.join('\n'), err: err.join('\n') }
  }

  const settle: AdminCommand = { method: 'POST', path: '/v1/settle', settles: true }

  it('exits 0 with the JSON when every settlement landed or had nothing due', async () => {
    const body = { settlements: [{ kind: 'settled' }, { kind: 'nothing-due' }] }
    const server = await answering(200, body)
    const result = await run(server.url, settle)
    expect(result).toEqual({ code: 0, out: JSON.stringify(body, null, 2), err: '' })
    expect(server.seen).toEqual([
      { method: 'POST', url: '/v1/settle', authorization: 'Bearer the-token' },
    ])
  })

  it('exits 4 when a settlement did not land, 1 on a problem, 3 when unreachable', async () => {
    const pending = await answering(200, {
      settlements: [{ kind: 'settled' }, { kind: 'pending' }],
    })
    expect((await run(pending.url, settle)).code).toBe(4)
    await close?.()
    const one = await answering(200, { kind: 'busy' })
    expect((await run(one.url, { ...settle, path: `/v1/channels/${id}/settle` })).code).toBe(4)
    await close?.()
    const refused = await answering(401, { code: 'admin-unauthorized', detail: 'no' })
    const problem = await run(refused.url, { method: 'GET', path: '/v1/channels', settles: false })
    expect(problem.code).toBe(1)
    expect(problem.err).toBe('mpp-gateway admin: 401 admin-unauthorized: no')
    expect(problem.out).toContain('admin-unauthorized')
    await close?.()
    close = undefined
    const gone = await run(refused.url, settle)
    expect(gone.code).toBe(3)
    expect(gone.err).toContain(`cannot reach ${refused.url}`)
    expect(gone.err).not.toContain('the-token')
  })
})
