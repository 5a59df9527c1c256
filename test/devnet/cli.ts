/**
 * `npm run devnet`: starts a local Tempo devnet with the escrow and funded keys, prints one JSON
 * line describing it, and runs until interrupted. The keys are throwaway devnet keys.
 *
 * Environment: DEVNET_PAYERS (funded payer keys, 3 by default), DEVNET_CHAIN_ID (1337 by default,
 * a chain id the mppx CLI knows).
 */
import { defaultDevnetChainId, devnetInfo, startDevnet } from './devnet.js'

const chainId = Number(process.env.DEVNET_CHAIN_ID ?? defaultDevnetChainId)
if (!Number.isSafeInteger(chainId) || chainId <= 0) {
  console.error(`DEVNET_CHAIN_ID must be a positive integer, not ${process.env.DEVNET_CHAIN_ID}`)
  process.exit(2)
}

const started = Date.now()
const devnet = await startDevnet({ payers: Number(process.env.DEVNET_PAYERS ?? 3), chainId })
console.log(
  JSON.stringify({
    ...devnetInfo(devnet),
    anvil: { url: devnet.anvilUrl, pid: devnet.anvilPid },
    readyMs: Date.now() - started,
    warning: 'throwaway devnet keys: never use them on a real network',
  }),
)

let stopping = false
const stop = (signal: NodeJS.Signals) => {
  if (stopping) return
  stopping = true
  devnet
    .stop()
    .then(() => process.exit(signal === 'SIGINT' ? 130 : 143))
    .catch((err: unknown) => {
      console.error(err)
      process.exit(1)
    })
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
// `npm run` may end without passing the signal on (it stops its shell only): when this process
// is orphaned, stop as on SIGTERM.
const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) stop('SIGTERM')
}, 500).unref()
