/**
 * The `mppx` command-line client (the binary of the pinned npm package, run as its own process,
 * as a user runs `npx mppx`) pays one request through the gateway on the shared devnet, then
 * `mppx sessions close` closes the channel it left open. The amounts are checked on chain and in
 * the gateway's ledger.
 *
 * What the CLI needs (read from mppx 0.11.0's dist/cli):
 *  - Account: `MPPX_PRIVATE_KEY` (there is no key flag). When it is set no keychain is consulted;
 *    otherwise `--account`/`MPPX_ACCOUNT` names a key in the OS keychain (`secret-tool` on Linux).
 *  - RPC and chain: `--rpc-url` or `MPPX_RPC_URL` (or `RPC_URL`). The chain is whichever of viem's
 *    Tempo chains (4217, 42431, 31318, 1337) has the RPC's `eth_chainId`; any other id is
 *    "Unknown chain ID", hence the devnet's chain id 1337. The challenge's `chainId` must match.
 *  - Session: a `tempo`/`session` challenge opens a channel with the challenge's
 *    `suggestedDeposit` (`-M deposit=<token units>` overrides it; `-M allowCustomEscrow=true` for
 *    an escrow other than the canonical one), pays one request, prints the answer's body on
 *    stdout, and keeps the channel open: "Session retained <id>" on stderr.
 *  - Store: `mppx sessions close <id>` finds the session in a store on disk,
 *    `$XDG_STATE_HOME/mppx/sessions/v1` (default `~/.local/state/…`): one JSON file per channel
 *    with the endpoint, the last challenge and the amounts, plus lock and preference files. It
 *    reads the channel on chain, posts a close credential to the stored endpoint and deletes the
 *    file. `$XDG_CONFIG_HOME/mppx` holds the default account name and `$XDG_CACHE_HOME/incur` an
 *    update check, which also asks the npm registry unless `NO_UPDATE_NOTIFIER` is set.
 * So each run gets a minimal environment whose HOME and XDG directories are a temporary directory:
 * the real home is never read or written, and nothing reaches the network beyond loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { leash } from '../devnet/anvil.js'
import type { DevnetKey } from '../devnet/devnet.js'
import { startDevnetGateway, type DevnetGateway } from '../support/devnet-gateway.js'
import { memoryLogger } from '../support/gateway.js'

const price = 10_000n // "0.01" in config/devnet.yaml
const deposit = 100_000n // session.suggestedDeposit "0.1" in config/devnet.yaml
const mppxBin = fileURLToPath(new URL('../../node_modules/.bin/mppx', import.meta.url))
/** Bound on one CLI run; a pay or a close takes about two seconds on the devnet. */
const runTimeoutMs = 25_000

type Run = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

describe('the mppx CLI pays through the gateway and closes the session', () => {
  let setup: DevnetGateway
  let log: ReturnType<typeof memoryLogger>
  let payer: DevnetKey
  let home: string
  const live = new Set<ChildProcess>()

  beforeAll(async () => {
    log = memoryLogger()
    setup = await startDevnetGateway({ logger: log.logger })
    ;[payer] = (await setup.devnet.newPayers(1)) as [DevnetKey]
    home = mkdtempSync(join(tmpdir(), 'mppx-cli-home-'))
  })
  afterAll(async () => {
    for (const child of live) child.kill('SIGKILL')
    await setup?.stop()
    if (home) rmSync(home, { recursive: true, force: true })
  })

  const storeDir = () => join(home, 'state', 'mppx', 'sessions', 'v1', 'channels')

  /** Runs the CLI to its end, or kills it after `runTimeoutMs`. */
  function mppx(args: string[]): Promise<Run> {
    const child = spawn(process.execPath, [mppxBin, ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        XDG_CONFIG_HOME: join(home, 'config'),
        XDG_STATE_HOME: join(home, 'state'),
        XDG_CACHE_HOME: join(home, 'cache'),
        XDG_DATA_HOME: join(home, 'data'),
        NO_UPDATE_NOTIFIER: '1',
        NO_COLOR: '1',
        MPPX_PRIVATE_KEY: payer.privateKey,
        MPPX_RPC_URL: setup.devnet.rpcUrl,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    live.add(child)
    leash(child.pid)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), runTimeoutMs)
    return new Promise((resolve, reject) => {
      child.once('error', reject)
      child.once('close', (code, signal) => {
        clearTimeout(timer)
        live.delete(child)
        resolve({ code, signal, stdout, stderr })
      })
    })
  }

  /** What a failed assertion shows: the CLI's output and the gateway's access lines. */
  const transcript = (run: Run) =>
    [
      `exit ${run.code ?? run.signal}`,
      `stdout: ${run.stdout}`,
      `stderr: ${run.stderr}`,
      ...log.lines.filter((l) => l.msg === 'request').map((l) => JSON.stringify(l)),
    ].join('\n')

  it('one paid request, then `mppx sessions close`: exact amounts on chain and in the ledger', async () => {
    const { devnet, upstream, gateway } = setup
    const payeeBefore = await devnet.balance(devnet.payee.address)
    const payerBefore = await devnet.balance(payer.address)
    const seenBefore = upstream.seen.length

    const pay = await mppx([`${gateway.url}/v1/execution/cli-1/results`])
    expect(pay.code, transcript(pay)).toBe(0)
    expect(JSON.parse(pay.stdout)).toEqual({
      execution_id: 'cli-1',
      result: { rows: [{ block: 1, value: '42' }], metadata: { row_count: 1 } },
    })
    const retained = /Session retained (0x[0-9a-f]{64})/.exec(pay.stderr)
    expect(retained, transcript(pay)).not.toBeNull()
    const channelId = retained![1] as Hex

    const forwarded = upstream.seen.slice(seenBefore)
    expect(forwarded.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /v1/execution/cli-1/results',
    ])
    expect(forwarded[0]!.headers.authorization).toBeUndefined()
    expect(await gateway.deps.ledger.get(channelId)).toMatchObject({
      status: 'open',
      deposit,
      spent: price,
      units: 1,
    })
    expect(await devnet.balance(payer.address)).toBe(payerBefore - deposit)
    expect(existsSync(join(storeDir(), `${channelId}.json`))).toBe(true)

    const payerOpen = await devnet.balance(payer.address)
    const close = await mppx(['sessions', 'close', channelId])
    expect(close.code, transcript(close)).toBe(0)
    expect(close.stdout).toContain(`${channelId}  closed  ${price}`)
    const closeTx = /transaction {2}(0x[0-9a-f]{64})/.exec(close.stdout)
    expect(closeTx, transcript(close)).not.toBeNull()

    expect(upstream.seen.length - seenBefore).toBe(1)
    expect(await devnet.balance(devnet.payee.address)).toBe(payeeBefore + price)
    expect(await devnet.balance(payer.address)).toBe(payerOpen + (deposit - price))
    expect(await devnet.balance(payer.address)).toBe(payerBefore - price)
    expect(await gateway.deps.ledger.get(channelId)).toMatchObject({
      status: 'finalized',
      spent: price,
      settled: price,
      units: 1,
      closeTxHash: closeTx![1],
    })
    expect(readdirSync(storeDir())).toEqual([])
  })
})
