/**
 * The escrow client with its settlement work on a thread of its own (escrow-worker.ts).
 *
 * Why: a settlement is CPU the request path must not wait behind — a transaction filled, encoded
 * and signed, sent, its receipt polled, JSON-RPC answers parsed and formatted. On the event loop
 * that serves requests, the receipts of one poll resolve together and their settlements run back
 * to back: a request arriving then waited milliseconds (issue 10: at one connection, a new
 * voucher's added p99 was 5.8–8.3 ms with the settler on against 0.9–1.4 ms with it off). On the
 * chain thread that work runs on the other core; the request loop keeps only the settler's
 * bookkeeping (its ledger and lock steps, a few messages per settlement).
 *
 * What runs where:
 *  - chain thread: `signWrite`, `sendRaw`, `receipt`, `waitForReceipt`, `chainTime`, latest-state
 *    reads (`readState` without a block, `readStates`) — everything the settler, the close
 *    watcher and a close do against the chain, and the chain-state reads of the request path;
 *  - this thread (the `base` client): `broadcast` of client-signed transactions (the charge and
 *    session paths tell viem's error classes apart, which do not cross a thread), state reads at a
 *    block, `publicClient` (its few callers need viem's client itself), and `events` (a pure
 *    parse of a receipt already here).
 *
 * Invariants:
 *  - the thread starts at `warm()` (the gateway calls it once it listens) or at the first call,
 *    never at construction, and again at the next call after it died: every call in flight when it exits
 *    or fails is rejected (a settlement's outcome is then unknown and reconciled, as after any RPC
 *    failure), none is left waiting;
 *  - it keeps the process alive only while calls are in flight;
 *  - an error crosses as a {@link ChainThreadError} carrying what the logs and the attempt
 *    classification read (name, first line, viem's short message and details, time-out or not);
 *    a receipt time-out comes back as the {@link ReceiptTimeoutError} it was.
 */
import { Worker } from 'node:worker_threads'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Address, Hex, TransactionReceipt } from 'viem'
import type { ChainState } from '../ledger/port.js'
import type { EscrowClient, EscrowWrite, SignedWrite } from './escrow.js'
import type { NetworkName } from './networks.js'
import { ReceiptTimeoutError } from './receipts.js'

/** Plain settings the thread builds its client from (they cross by structured clone). */
export type ThreadSettings = {
  readonly chain: {
    readonly network: NetworkName
    readonly chainId: number
    readonly rpcUrl: string
  }
  readonly escrow: Address
  readonly signerKey: Hex
  readonly feeToken: Address
  readonly receiptTimeoutMs?: number
}

type Calls = {
  readState: { args: [channelId: Hex, blockNumber: undefined]; value: ChainState }
  readStates: { args: [channelIds: readonly Hex[]]; value: ChainState[] }
  signWrite: { args: [call: EscrowWrite]; value: SignedWrite }
  sendRaw: { args: [rawTransaction: Hex]; value: Hex }
  receipt: { args: [hash: Hex]; value: TransactionReceipt | undefined }
  waitForReceipt: { args: [hash: Hex, timeoutMs: number]; value: TransactionReceipt }
  chainTime: { args: []; value: number }
}

/** One call message to the chain thread. */
export type ThreadCall = {
  [M in keyof Calls]: { readonly id: number; readonly method: M; readonly args: Calls[M]['args'] }
}[keyof Calls]

/** What crosses back for a failed call. */
export type ThreadErrorShape = {
  readonly kind: 'receipt-timeout' | 'timeout' | 'rpc-error' | 'error'
  readonly name: string
  readonly message: string
  readonly hash?: Hex
  readonly shortMessage?: string
  readonly details?: string
  readonly code?: string | number
}

type Answer =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: ThreadErrorShape }

/** A chain call that failed on the chain thread, or the thread itself failing. */
export class ChainThreadError extends Error {
  readonly kind: ThreadErrorShape['kind']
  readonly shortMessage: string | undefined
  readonly details: string | undefined
  readonly code: string | number | undefined
  constructor(shape: ThreadErrorShape) {
    super(shape.message)
    this.name = shape.name
    this.kind = shape.kind
    this.shortMessage = shape.shortMessage
    this.details = shape.details
    this.code = shape.code
  }
}

const closedError = () =>
  new ChainThreadError({
    kind: 'error',
    name: 'ChainThreadError',
    message: 'the chain client is closed',
  })

function revive(shape: ThreadErrorShape): Error {
  if (shape.kind === 'receipt-timeout' && shape.hash) return new ReceiptTimeoutError(shape.hash)
  return new ChainThreadError(shape)
}

/**
 * Starts escrow-worker next to this file: the built `.js` as it is, or — when this module runs
 * from its TypeScript source (tsx, vitest) — the `.ts` source with tsx's loader registered in the
 * thread first (a worker does not inherit the loader hooks of the thread that starts it).
 */
function startWorker(settings: ThreadSettings): Worker {
  const source = import.meta.url.endsWith('.ts')
  const entry = new URL(source ? './escrow-worker.ts' : './escrow-worker.js', import.meta.url)
  if (!source) return new Worker(entry, { workerData: settings })
  const tsxRoot = dirname(createRequire(import.meta.url).resolve('tsx/package.json'))
  const api = pathToFileURL(join(tsxRoot, 'dist/esm/api/index.mjs')).href
  const boot =
    `import(${JSON.stringify(api)})` +
    `.then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}) })`
  return new Worker(boot, { eval: true, workerData: settings })
}

/**
 * `base` with its settlement and latest-state calls moved to a chain thread built from
 * `settings` (the same chain, escrow, key and fee token as `base`).
 */
export function threadedEscrow(
  base: EscrowClient,
  settings: ThreadSettings,
): EscrowClient & { warm(): void } {
  let worker: Worker | undefined
  let closed = false
  let nextId = 0
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>()

  const failAll = (error: Error) => {
    const calls = [...pending.values()]
    pending.clear()
    for (const call of calls) call.reject(error)
  }

  const thread = (): Worker => {
    if (worker) return worker
    const started = startWorker(settings)
    started.on('message', (answer: Answer) => {
      const call = pending.get(answer.id)
      if (!call) return
      pending.delete(answer.id)
      if (pending.size === 0) started.unref()
      if (answer.ok) call.resolve(answer.value)
      else call.reject(revive(answer.error))
    })
    const gone = (error: Error) => {
      if (worker !== started) return
      worker = undefined
      failAll(error)
    }
    started.on('error', (error) =>
      gone(new ChainThreadError({ kind: 'error', name: error.name, message: error.message })),
    )
    started.on('exit', (code) =>
      gone(
        new ChainThreadError({
          kind: 'error',
          name: 'ChainThreadError',
          message: `the chain thread exited (code ${code})`,
        }),
      ),
    )
    started.unref()
    worker = started
    return started
  }

  const call = <M extends keyof Calls>(method: M, ...args: Calls[M]['args']) =>
    new Promise<Calls[M]['value']>((resolve, reject) => {
      if (closed) {
        reject(closedError())
        return
      }
      const target = thread()
      nextId += 1
      const id = nextId
      pending.set(id, { resolve: resolve, reject })
      if (pending.size === 1) target.ref()
      target.postMessage({ id, method, args })
    })

  return {
    chainId: base.chainId,
    escrow: base.escrow,
    publicClient: base.publicClient,
    sender: base.sender,
    readState: (channelId, blockNumber) =>
      blockNumber === undefined
        ? call('readState', channelId, undefined)
        : base.readState(channelId, blockNumber),
    readStates: (channelIds) => call('readStates', channelIds),
    broadcast: (rawTransaction) => base.broadcast(rawTransaction),
    signWrite: (write) => call('signWrite', write),
    sendRaw: (rawTransaction) => call('sendRaw', rawTransaction),
    receipt: (hash) => call('receipt', hash),
    waitForReceipt: (hash, timeoutMs) => call('waitForReceipt', hash, timeoutMs),
    chainTime: () => call('chainTime'),
    events: (receipt, eventName, channelId) => base.events(receipt, eventName, channelId),
    /** Starts the thread now, so that the first call does not wait for it to load. */
    warm() {
      if (!closed) thread()
    },
    async close() {
      if (closed) return
      closed = true
      const running = worker
      worker = undefined
      if (running) await running.terminate()
      failAll(closedError())
      await base.close()
    },
  }
}
