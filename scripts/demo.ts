/**
 * `npm run demo`: the gateway's main job, end to end, on a local devnet.
 *
 * Starts a Tempo devnet (anvil + the TIP-1034 escrow), a small Dune-like API on loopback, and the
 * gateway as its own process from config/devnet.yaml. Then the real mppx client pays per request
 * through the gateway — opening a channel, sending vouchers, topping up when the deposit runs out
 * — and closes. Every step is printed with its receipt, then the close transaction and the final
 * on-chain balances. Everything is stopped at the end.
 *
 * `npm run demo -- --keep` leaves the devnet, the upstream and the gateway running afterwards and
 * prints the `mppx` CLI commands (with the payer's throwaway devnet key) that pay through the
 * gateway and close the session; Ctrl-C stops everything.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { tempo } from 'mppx/client'
import { formatUnits } from 'viem'
import { escrowAbi } from '../src/chain/escrow-abi.js'
import { decodeReceipt } from '../src/protocol/receipt.js'
import { startDevnet } from '../test/devnet/devnet.js'
import { startExampleUpstream } from '../test/support/example-upstream.js'

const units = (amount: bigint) => `${formatUnits(amount, 6)} pathUSD`
const say = (line: string) => console.log(line)
const keep = process.argv.slice(2).includes('--keep')

/** Resolves on the first SIGINT or SIGTERM. */
function interrupted(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve())
    process.once('SIGTERM', () => resolve())
  })
}

/** Starts `mpp-gateway --config config/devnet.yaml` and resolves with its URL once it listens. */
async function startGatewayProcess(
  env: Record<string, string>,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/main.ts', '--config', 'config/devnet.yaml'],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  const lines = createInterface({ input: child.stdout })
  const exited = once(child, 'exit').then(() => {
    throw new Error('the gateway exited before it was ready')
  })
  // Keep reading the gateway's log lines for its whole life (a full pipe would block it); only
  // the "listening" line matters here.
  const ready = new Promise<string>((resolve) => {
    lines.on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as { msg?: string; url?: string }
        if (parsed.msg === 'gateway listening' && parsed.url) resolve(parsed.url)
      } catch {
        // not a log line
      }
    })
  })
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error('the gateway did not start within 20 s')), 20_000).unref(),
  )
  try {
    return { url: await Promise.race([ready, exited, timeout]), child }
  } catch (error) {
    child.kill('SIGKILL')
    throw error
  }
}

async function main() {
  say('1. Starting a local Tempo devnet (anvil, TIP-1034 escrow, funded throwaway keys)…')
  const devnet = await startDevnet({ payers: 1 })
  const upstream = await startExampleUpstream({ record: false })
  let gateway: ChildProcess | undefined
  try {
    const payer = devnet.payers[0]!
    say(`   chain ${devnet.chainId} at ${devnet.rpcUrl}, escrow ${devnet.escrow}`)
    say(`   payee ${devnet.payee.address}, payer ${payer.address}`)
    say(`2. Example upstream (Dune-like API) at ${upstream.url}`)

    const started = await startGatewayProcess({
      DEVNET_RPC_URL: devnet.rpcUrl,
      DEVNET_CHAIN_ID: String(devnet.chainId),
      DEVNET_PAYEE_ADDRESS: devnet.payee.address,
      DEVNET_PAYEE_KEY: devnet.payee.privateKey,
      UPSTREAM_URL: upstream.url,
      MPP_CHALLENGE_SECRET: 'demo-challenge-secret-of-at-least-32-bytes',
      GATEWAY_PORT: '0',
    })
    gateway = started.child
    const base = started.url
    say(
      `3. Gateway listening at ${base} (config/devnet.yaml: 0.01 pathUSD per paid request, deposit 0.1)`,
    )

    const payeeBefore = await devnet.balance(devnet.payee.address)
    const payerBefore = await devnet.balance(payer.address)
    const challenge = await fetch(`${base}/v1/execution/demo/results`)
    say(
      `4. Unpaid request → ${challenge.status}, WWW-Authenticate: ${challenge.headers.get('www-authenticate')?.slice(0, 72)}…`,
    )

    const client = devnet.clientFor(payer.privateKey)
    const session = tempo.session.manager({ client, maxDeposit: '1' })
    say('5. The mppx client pays per request:')
    const show = async (label: string, response: Response) => {
      const header = response.headers.get('payment-receipt')
      const receipt = header
        ? (decodeReceipt(header) as { spent: string; units: number; txHash?: string })
        : undefined
      const body = (await response.text()).slice(0, 60).replace(/\n/g, ' ')
      const paid = receipt
        ? `spent ${units(BigInt(receipt.spent))} (${receipt.units} units)${receipt.txHash ? `, tx ${receipt.txHash}` : ''}`
        : 'free, no receipt'
      say(`   ${label.padEnd(42)} → ${response.status} ${paid} | ${body}`)
    }
    const executed = await session.fetch(`${base}/v1/sql/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sql: 'select 42' }),
    })
    const { execution_id: id } = (await executed.clone().json()) as { execution_id: string }
    await show('POST /v1/sql/execute (opens the channel)', executed)
    await show(`GET /v1/execution/${id}/status`, await fetch(`${base}/v1/execution/${id}/status`))
    for (let i = 0; i < 11; i++) {
      const path = i % 2 === 0 ? `/v1/execution/${id}/results` : `/v1/execution/${id}/results/csv`
      await show(`GET ${path}`, await session.fetch(`${base}${path}`))
    }

    const topUps = await devnet.publicClient.getContractEvents({
      address: devnet.escrow,
      abi: escrowAbi,
      eventName: 'TopUp',
      args: { channelId: session.channelId! },
      fromBlock: 0n,
    })
    for (const t of topUps) {
      say(
        `   (the client topped up automatically: +${units(t.args.additionalDeposit!)}, deposit now ${units(t.args.newDeposit!)}, tx ${t.transactionHash})`,
      )
    }
    say('6. Closing the channel (the gateway submits the close transaction):')
    const closed = await session.close()
    say(`   close tx ${closed?.txHash}, captured ${units(BigInt(closed?.spent ?? '0'))}`)

    const channelId = session.channelId!
    const state = await devnet.publicClient.readContract({
      address: devnet.escrow,
      abi: escrowAbi,
      functionName: 'getChannelState',
      args: [channelId],
    })
    const payeeGain = (await devnet.balance(devnet.payee.address)) - payeeBefore
    const payerCost = payerBefore - (await devnet.balance(payer.address))
    say('7. Final on-chain balances:')
    say(
      `   payee gained ${units(payeeGain)}; payer paid ${units(payerCost)}; the rest of the deposit went back to the payer`,
    )
    say(
      `   escrow state of the channel: deposit ${state.deposit}, settled ${state.settled} (deleted on close)`,
    )
    if (keep) {
      const env = `MPPX_PRIVATE_KEY=${payer.privateKey} MPPX_RPC_URL=${devnet.rpcUrl}`
      say('Still running (throwaway devnet keys). Pay with the mppx CLI, then close its session:')
      say(`   ${env} npx mppx ${base}/v1/execution/${id}/results`)
      say(`   ${env} npx mppx sessions close <the channel id it prints>`)
      say('Ctrl-C stops everything.')
      await interrupted()
    }
  } finally {
    if (gateway && gateway.exitCode === null) {
      gateway.kill('SIGTERM')
      await once(gateway, 'exit')
    }
    await upstream.close()
    await devnet.stop()
    say('8. Stopped the gateway, the upstream and the devnet.')
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
