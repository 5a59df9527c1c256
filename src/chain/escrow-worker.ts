/**
 * The chain thread: a worker that owns the escrow client the settlement machinery uses
 * (escrow-thread.ts starts it and says why). It builds that client from the plain settings in its
 * `workerData` and answers each call message with the call's value or a summary of its error.
 *
 * Protocol (structured clone, so bigints and receipts cross as they are):
 *   in:  { id, method, args }            method: one of {@link ThreadMethod}
 *   out: { id, ok: true, value } | { id, ok: false, error: ThreadErrorShape }
 *
 * What crosses for an error is what the main thread classifies and logs (failure-log.ts
 * `errorSummary`, settlement/attempts.ts): its name, first-line message, viem's short message and
 * details, and whether it was a time-out. Never the error's full text: viem's long messages name
 * the RPC URL, which may carry a provider's key.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { BaseError, TimeoutError, WaitForTransactionReceiptTimeoutError } from 'viem'
import { createEscrowClient } from './escrow.js'
import { tempoChain } from './networks.js'
import { ReceiptTimeoutError } from './receipts.js'
import { payeeAccount } from './signer.js'
import type { ThreadCall, ThreadErrorShape, ThreadSettings } from './escrow-thread.js'

const settings = workerData as ThreadSettings
const escrow = createEscrowClient({
  chain: tempoChain(settings.chain),
  rpcUrl: settings.chain.rpcUrl,
  escrow: settings.escrow,
  account: payeeAccount(settings.signerKey),
  feeToken: settings.feeToken,
  ...(settings.receiptTimeoutMs === undefined
    ? {}
    : { receiptTimeoutMs: settings.receiptTimeoutMs }),
})

const firstLine = (text: unknown) =>
  typeof text === 'string' && text !== '' ? (text.split('\n')[0] ?? '') : undefined

function errorShape(error: unknown): ThreadErrorShape {
  if (error instanceof ReceiptTimeoutError) {
    return { kind: 'receipt-timeout', name: error.name, message: error.message, hash: error.hash }
  }
  if (!(error instanceof Error)) return { kind: 'error', name: 'Error', message: String(error) }
  const { shortMessage, details, code } = error as {
    shortMessage?: unknown
    details?: unknown
    code?: unknown
  }
  const timedOut =
    error instanceof BaseError &&
    Boolean(
      error.walk(
        (cause) =>
          cause instanceof TimeoutError || cause instanceof WaitForTransactionReceiptTimeoutError,
      ),
    )
  const detail = firstLine(details)
  return {
    kind: timedOut ? 'timeout' : error instanceof BaseError ? 'rpc-error' : 'error',
    name: error.name,
    message: firstLine(error.message) ?? '',
    ...(typeof shortMessage === 'string' ? { shortMessage } : {}),
    ...(detail === undefined ? {} : { details: detail }),
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
  }
}

const calls = {
  readState: (channelId, blockNumber) => escrow.readState(channelId, blockNumber),
  readStates: (channelIds) => escrow.readStates(channelIds),
  signWrite: (call) => escrow.signWrite(call),
  sendRaw: (raw) => escrow.sendRaw(raw),
  receipt: (hash) => escrow.receipt(hash),
  waitForReceipt: (hash, timeoutMs) => escrow.waitForReceipt(hash, timeoutMs),
  chainTime: () => escrow.chainTime(),
} satisfies {
  [M in ThreadCall['method']]: (
    ...args: Extract<ThreadCall, { method: M }>['args']
  ) => Promise<unknown>
}

const port = parentPort
if (!port) throw new Error('escrow-worker.ts runs as a worker thread only')
port.on('message', (call: ThreadCall) => {
  const run = calls[call.method] as (...args: readonly unknown[]) => Promise<unknown>
  Promise.resolve()
    .then(() => run(...call.args))
    .then(
      (value) => port.postMessage({ id: call.id, ok: true, value }),
      (error: unknown) => port.postMessage({ id: call.id, ok: false, error: errorShape(error) }),
    )
})
