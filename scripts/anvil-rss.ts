/**
 * A bounded experiment on the devnet's anvil: its resident memory (VmRSS from /proc) over a fixed
 * number of transactions, for one history setting (test/devnet/anvil.ts `retain`). Each
 * transaction gives a new address one base unit of the fee token, so the chain's state grows the
 * way a long run's does (new payers). Linux only; prints a line every 500 transactions and once
 * more 5 s after the last.
 *
 * Usage: tsx scripts/anvil-rss.ts <states|full> [blocks=256] [transactions=3000]
 *   e.g. tsx scripts/anvil-rss.ts 16 256 3000   (--prune-history 16 --transaction-block-keeper 256)
 *        tsx scripts/anvil-rss.ts full          (anvil's defaults: full history)
 */
import { readFileSync } from 'node:fs'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { startDevnet } from '../test/devnet/devnet.js'

const [statesArg = 'full', blocksArg = '256', countArg = '3000'] = process.argv.slice(2)
const retain =
  statesArg === 'full' ? undefined : { states: Number(statesArg), blocks: Number(blocksArg) }
const count = Number(countArg)
if (!Number.isInteger(count) || count < 1 || count > 50_000)
  throw new Error('transactions must be an integer in 1..50000')

const rssMb = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024
}

const devnet = await startDevnet({ payers: 0, ...(retain ? { retain } : {}) })
const started = Date.now()
const label = retain ? `states ${retain.states}, blocks ${retain.blocks}` : 'full history'
const report = (sent: number) =>
  console.log(
    `${label}: ${String(sent).padStart(5)} transactions, anvil RSS ${rssMb(devnet.anvilPid).toFixed(0)} MB, ` +
      `${((Date.now() - started) / 1000).toFixed(0)} s`,
  )
try {
  report(0)
  let sent = 0
  // 16 senders at a time: enough to keep anvil busy, few enough not to queue in its pool.
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (sent < count) {
        sent += 1
        const n = sent
        await devnet.fundFees(privateKeyToAccount(generatePrivateKey()).address, 1n)
        if (n % 500 === 0) report(n)
      }
    }),
  )
  await new Promise((resolve) => setTimeout(resolve, 5_000))
  report(sent)
} finally {
  await devnet.stop()
}
