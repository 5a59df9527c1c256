/**
 * The chain clients of a gateway or standalone settler (gateway.ts), and the context settlement
 * submits its transactions through.
 */
import type { Logger } from 'pino'
import { createEscrowClient, type EscrowClient } from './chain/escrow.js'
import { threadedEscrow } from './chain/escrow-thread.js'
import { checkFeeBalance } from './chain/fee-balance.js'
import { tempoChain } from './chain/networks.js'
import { payeeAccount } from './chain/signer.js'
import type { Config } from './config/schema.js'
import type { Metrics } from './http/metrics.js'
import type { SubmitContext } from './settlement/submit.js'
import type { Storage } from './storage.js'

/**
 * The chain adapters for the configured network and payee key: `escrow` for the request path, and
 * `settlement` — the same client with its settlement calls on a chain thread of their own
 * (escrow-thread.ts) — for the settler, the close watcher and closes. Closing `settlement` closes
 * both. Also checks, in the background (a slow or unreachable chain must not hold up the start),
 * that the key can pay settlement fees.
 */
export function openEscrow(
  config: Config,
  logger: Logger,
  chainThread: boolean,
): { escrow: EscrowClient; settlement: EscrowClient & { readonly warm?: () => void } } {
  const chain = {
    network: config.chain.network,
    chainId: config.chain.chainId,
    rpcUrl: config.chain.rpcUrl,
  }
  const escrow = createEscrowClient({
    chain: tempoChain(chain),
    rpcUrl: config.chain.rpcUrl,
    escrow: config.chain.escrow,
    account: payeeAccount(config.payee.signerKey),
    feeToken: config.currency.feeToken,
  })
  const settlement = chainThread
    ? threadedEscrow(escrow, {
        chain,
        escrow: config.chain.escrow,
        signerKey: config.payee.signerKey,
        feeToken: config.currency.feeToken,
      })
    : escrow
  void checkFeeBalance({
    publicClient: escrow.publicClient,
    feeToken: config.currency.feeToken,
    signer: escrow.sender,
    logger,
  })
  return { escrow, settlement }
}

export function submitContext(options: {
  config: Config
  escrow: EscrowClient
  storage: Storage
  logger: Logger
  now: () => number
  metrics?: Metrics
}): SubmitContext {
  return {
    ...(options.metrics ? { metrics: options.metrics } : {}),
    escrow: options.escrow,
    store: options.storage.store,
    ledger: options.storage.ledger,
    logger: options.logger.child({ component: 'submit' }),
    now: options.now,
    receiptTimeoutMs: options.config.settlement.receiptTimeoutMs,
  }
}
