/**
 * The `mpp-gateway` command as an operator runs it: `--help`, `check`, `channels`, and a running
 * process that stops gracefully on SIGTERM — readiness off, in-flight requests finish, then it
 * exits 0.
 */
import { once } from 'node:events'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { parseDocument } from 'yaml'
import { createRedisLedger } from '../../src/ledger/redis/ledger.js'
import type { DevnetInfo } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { cliOutput, runCli } from '../support/cli-process.js'
import { devnetEnv, testChallengeSecret } from '../support/gateway.js'
import { freePort, startRedisServer } from '../support/redis-server.js'
import { chargeInput, newChannel } from '../ledger/contract.js'

const run = runCli
const output = cliOutput

/** Resolves with the gateway's URL once the process logs that it listens, and its log lines. */
async function listening(child: ReturnType<typeof runCli>) {
  const lines = createInterface({ input: child.stdout })
  const logged: Record<string, unknown>[] = []
  const url = await new Promise<string>((resolve) => {
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>
      logged.push(entry)
      if (entry.msg === 'gateway listening') resolve(entry.url as string)
    })
  })
  return { url, logged }
}

describe('the mpp-gateway command', () => {
  let devnet: DevnetInfo
  let upstream: ExampleUpstream
  let env: Record<string, string>

  beforeAll(async () => {
    devnet = inject('devnet')
    upstream = await startExampleUpstream()
    env = devnetEnv(devnet, upstream.url)
  })
  afterAll(async () => {
    await upstream.close()
  })

  it('--help prints usage', async () => {
    const { code, stdout } = await output(['--help'])
    expect(code).toBe(0)
    expect(stdout).toContain('mpp-gateway check --config <file>')
  })

  it('--version prints the version; a mistyped option gets the usage and exit code 2', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }
    const [printed, unknown, missing] = await Promise.all([
      output(['--version']),
      output(['--bogus']),
      output(['check', '--config']),
    ])
    expect(printed).toEqual({ code: 0, stdout: `mpp-gateway ${version}\n`, stderr: '' })
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/^mpp-gateway: unknown option --bogus\n\nmpp-gateway — /)
    expect(unknown.stderr).toContain('mpp-gateway check --config <file>')
    expect(unknown.stderr).not.toContain('To specify a positional argument')
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/^mpp-gateway: option --config needs a value\n/)
  }, 120_000)

  it('the container health check follows the configured port', async () => {
    const [port, other] = [await freePort(), await freePort()]
    // The image sets MPP_GATEWAY_CONFIG; both the gateway and its health check read it.
    const portEnv = { ...env, GATEWAY_PORT: String(port), MPP_GATEWAY_CONFIG: 'config/devnet.yaml' }
    const check = (extra: Record<string, string> = {}) =>
      output([], { ...portEnv, ...extra }, 'src/healthcheck.ts')
    const child = run([], portEnv)
    const exited = once(child, 'exit')
    const { url } = await listening(child)
    expect(url).toBe(`http://127.0.0.1:${port}`)
    expect(await check()).toMatchObject({ code: 0, stderr: '' })
    const elsewhere = await check({ GATEWAY_PORT: String(other) })
    expect(elsewhere.code).toBe(1)
    expect(elsewhere.stderr).toBe(
      `unhealthy: http://127.0.0.1:${other}/__gateway/readyz: ECONNREFUSED\n`,
    )
    child.kill('SIGTERM')
    await exited
    expect((await check()).code).toBe(1)
  }, 120_000)

  it('check validates a configuration and never prints a secret', async () => {
    const ok = await output(['check', '--config', 'config/devnet.yaml'], env)
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain('/v1/sql/execute')
    expect(ok.stdout + ok.stderr).not.toContain(devnet.payee.privateKey.slice(2))
    expect(ok.stdout + ok.stderr).not.toContain(testChallengeSecret)

    const dir = mkdtempSync(join(tmpdir(), 'mppgw-'))
    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, 'server:\n  realm: x\n  bogus: 1\nroutes: []\n')
    const failed = await output(['check', '--config', bad], env)
    expect(failed.code).toBe(1)
    expect(failed.stderr).toContain('server.bogus')
    expect(failed.stderr).toContain('server.challengeSecret')
  })

  it('stops gracefully on SIGTERM: readiness off, in-flight requests finish, exit 0', async () => {
    const child = run(['--config', 'config/devnet.yaml'], env)
    const { url, logged } = await listening(child)
    expect((await fetch(`${url}/__gateway/readyz`)).status).toBe(200)

    upstream.delayNext(1, 700)
    const slow = fetch(`${url}/v1/execution/slow/status`)
    await new Promise((r) => setTimeout(r, 200))
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const response = await slow
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ execution_id: 'slow' })
    const [code] = (await exited) as [number]
    expect(code).toBe(0)
    await expect(fetch(`${url}/__gateway/healthz`)).rejects.toThrow()
    expect(logged.map((l) => l.msg)).toContain('gateway stopped')
  })
  it('channels lists unsettled value from the Redis ledger as JSON lines, largest first', async () => {
    const redis = await startRedisServer()
    const keyPrefix = 'cli:'
    const ledger = await createRedisLedger({ url: redis.url, keyPrefix })
    try {
      const now = Date.now()
      const [small, large] = [newChannel(), newChannel()]
      for (const channel of [small, large]) await ledger.open(channel, now)
      await ledger.authorize(chargeInput(small.channelId, 10n, now))
      await ledger.authorize(chargeInput(large.channelId, 10n, now))
      await ledger.authorize(chargeInput(large.channelId, 20n, now))

      const dir = mkdtempSync(join(tmpdir(), 'mppgw-'))
      const configPath = join(dir, 'gateway.yaml')
      const doc = parseDocument(readFileSync('config/devnet.yaml', 'utf8'))
      doc.setIn(['ledger'], doc.createNode({ type: 'redis', redis: { url: redis.url, keyPrefix } }))
      writeFileSync(configPath, doc.toString())

      const listed = await output(['channels', '--config', configPath], env)
      expect(listed.code).toBe(0)
      const rows = listed.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
      expect(rows).toEqual([
        expect.objectContaining({
          channelId: large.channelId,
          spent: '20',
          settled: '0',
          unsettled: '20',
          graceEndsAt: null,
        }),
        expect.objectContaining({ channelId: small.channelId, unsettled: '10' }),
      ])
      expect(listed.stderr).toContain('2 channel(s) with unsettled value, 0.00003 in total')

      const memory = await output(['channels', '--config', 'config/devnet.yaml'], env)
      expect(memory.code).toBe(2)
      expect(memory.stderr).toContain('ledger.type memory')
    } finally {
      await ledger.close()
      await redis.stop()
    }
  })
})
