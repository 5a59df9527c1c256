/**
 * The admin section as the `mpp-gateway` process meets it: a non-loopback admin address stops the
 * gateway before it listens (and `check` says why) unless `allowNonLoopback` is set; a taken
 * admin port stops the whole gateway; the `admin`
 * commands tell an operator plainly when the file has no admin API or nothing listens.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { privateKeyToAddress } from 'viem/accounts'
import { afterAll, describe, expect, it } from 'vitest'
import { parseDocument } from 'yaml'
import { cliOutput } from '../support/cli-process.js'
import { freePort } from '../support/redis-server.js'

const payeeKey = `0x${'44'.repeat(32)}` as const
const env = {
  DEVNET_RPC_URL: 'http://127.0.0.1:1',
  DEVNET_CHAIN_ID: '1337',
  DEVNET_PAYEE_ADDRESS: privateKeyToAddress(payeeKey),
  DEVNET_PAYEE_KEY: payeeKey,
  UPSTREAM_URL: 'http://127.0.0.1:1',
  MPP_CHALLENGE_SECRET: 'process-test-secret-0123456789abcdef',
  GATEWAY_PORT: '0',
  ADMIN_TOKEN: 'process-admin-token-0123456789abcdef',
}

const dir = mkdtempSync(join(tmpdir(), 'mppgw-admin-process-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** config/devnet.yaml with `admin` set (or removed), written to a file of its own. */
function configWith(admin: Record<string, unknown> | undefined, name: string): string {
  const doc = parseDocument(
    readFileSync(new URL('../../config/devnet.yaml', import.meta.url), 'utf8'),
  )
  if (admin) doc.setIn(['admin'], admin)
  const file = join(dir, `${name}.yaml`)
  writeFileSync(file, doc.toString())
  return file
}

describe('the admin section in the mpp-gateway process', () => {
  it('refuses to start on a non-loopback admin address, and check names the problem', async () => {
    const file = configWith({ token: '${ADMIN_TOKEN}', host: '0.0.0.0' }, 'exposed')
    const run = await cliOutput(['--config', file], env)
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('admin.host')
    expect(run.stderr).toContain('allowNonLoopback')
    expect(run.stdout).not.toContain('gateway listening')
    expect(`${run.stdout}${run.stderr}`).not.toContain(env.ADMIN_TOKEN)
    const check = await cliOutput(['check', '--config', file], env)
    expect(check.code).toBe(1)
    expect(check.stderr).toContain('admin.host')

    const allowed = configWith(
      { token: '${ADMIN_TOKEN}', host: '0.0.0.0', allowNonLoopback: true },
      'allowed',
    )
    const ok = await cliOutput(['check', '--config', allowed], env)
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout).toContain('admin      0.0.0.0:9090 (bearer token, non-loopback allowed)')
    expect(ok.stdout).not.toContain(env.ADMIN_TOKEN)
  }, 60_000)

  it('stops the whole gateway and exits 1 when the admin port is taken', async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as AddressInfo).port
    try {
      const run = await cliOutput(
        ['--config', configWith({ token: '${ADMIN_TOKEN}', port }, 'taken')],
        env,
      )
      expect(run.code).toBe(1)
      expect(run.stderr).toContain('EADDRINUSE')
      expect(run.stdout).not.toContain('gateway listening')
      expect(run.stdout).toContain('gateway stopped')
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()))
    }
  }, 60_000)

  it('admin commands: exit 3 without an admin section or a listener, 2 on a usage mistake', async () => {
    const none = await cliOutput(
      ['admin', 'channels', '--config', configWith(undefined, 'none')],
      env,
    )
    expect(none.code).toBe(3)
    expect(none.stderr).toContain('has no admin: section')

    const port = await freePort()
    const nobody = await cliOutput(
      ['admin', 'channels', '--config', configWith({ token: '${ADMIN_TOKEN}', port }, 'idle')],
      env,
    )
    expect(nobody.code).toBe(3)
    expect(nobody.stderr).toContain(`cannot reach http://127.0.0.1:${port}`)
    expect(nobody.stderr).not.toContain(env.ADMIN_TOKEN)

    const usage = await cliOutput(['admin', 'frobnicate'], env)
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain('unknown admin command: frobnicate')
    const help = await cliOutput(['admin', '--help'], env)
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('mpp-gateway admin <command>')
  }, 60_000)
})
