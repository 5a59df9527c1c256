/**
 * The escrow adapter: every read and write the gateway makes against the TIP-1034 channel
 * reserve, over viem.
 *
 * Writes (close, settle) are signed by the payee's or operator's key as Tempo transactions with an
 * expiring nonce, so several can be in flight without nonce clashes and each one's hash is known
 * before it is broadcast (the settlement machinery records it first). They are filled by the node,
 * encoded and signed by escrow-tx.ts, not viem's wallet actions (CPU: issue 10), and their
 * broadcasts and fills share JSON-RPC batches (rpc.ts `call`). Client transactions (open, topUp)
 * are broadcast as the client signed them. A transaction counts only once its receipt is in and
 * successful.
 *
 * Receipts are awaited by hash only, all in-flight transactions polled together in one JSON-RPC
 * batch per poll (receipts.ts says why nonce-based waiting misreads expiring-nonce transactions).
 */
import {
  createPublicClient,
  formatTransactionReceipt,
  TransactionReceiptNotFoundError,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type parseEventLogs,
  type PublicClient,
  type TransactionReceipt,
} from 'viem'
import type { ChainState, Descriptor } from '../ledger/port.js'
import { escrowAbi } from './escrow-abi.js'
import { decodeEscrowEvents } from './escrow-events.js'
import { decodeStatesBatch, encodeStatesBatchCall } from './escrow-reads.js'
import {
  encodeEscrowCall,
  feesOfFill,
  fillRequest,
  randomValidAfter,
  signEscrowTransaction,
  type SignPayload,
} from './escrow-tx.js'
import { createReceiptPoller, type FetchReceipts } from './receipts.js'
import { createRpcPool } from './rpc.js'

export type EscrowEvent<N extends 'ChannelOpened' | 'TopUp' | 'ChannelClosed' | 'Settled'> =
  ReturnType<typeof parseEventLogs<typeof escrowAbi, true, N>>[number]

export type EscrowClient = {
  readonly chainId: number
  readonly escrow: Address
  readonly publicClient: PublicClient
  /** The address that signs the gateway's own transactions. */
  readonly sender: Address
  /** Current on-chain state of a channel (zeros when it does not exist). */
  readState(channelId: Hex, blockNumber?: bigint): Promise<ChainState>
  /** States of many channels in one call. */
  readStates(channelIds: readonly Hex[]): Promise<ChainState[]>
  /** Broadcasts a client-signed transaction and waits for its receipt. */
  broadcast(rawTransaction: Hex): Promise<TransactionReceipt>
  /**
   * Signs (does not send) a `settle` or `close` from the gateway's key, as a Tempo transaction
   * with an expiring nonce: its hash is known before it is broadcast, and it can never land
   * after `validBefore`.
   */
  signWrite(call: EscrowWrite): Promise<SignedWrite>
  /** Broadcasts signed bytes; re-sending the same bytes is harmless. */
  sendRaw(rawTransaction: Hex): Promise<Hex>
  /** The receipt of a transaction, or undefined when it is not (yet) included. */
  receipt(hash: Hex): Promise<TransactionReceipt | undefined>
  /**
   * Waits for the receipt of exactly this hash (polled with every other one in flight, in one
   * batch); rejects on time-out (the outcome is then unknown).
   */
  waitForReceipt(hash: Hex, timeoutMs: number): Promise<TransactionReceipt>
  /** The chain's clock: the later of the latest block's timestamp and wall time, in seconds. */
  chainTime(): Promise<number>
  /** Closes the client's connections to the node. */
  close(): Promise<void>
  /** Escrow events of one kind for one channel in a receipt. */
  events<N extends 'ChannelOpened' | 'TopUp' | 'ChannelClosed' | 'Settled'>(
    receipt: TransactionReceipt,
    eventName: N,
    channelId: Hex,
  ): EscrowEvent<N>[]
}

export type EscrowWrite =
  | {
      readonly functionName: 'settle'
      readonly descriptor: Descriptor
      readonly cumulative: bigint
      readonly signature: Hex
    }
  | {
      readonly functionName: 'close'
      readonly descriptor: Descriptor
      readonly cumulative: bigint
      readonly capture: bigint
      readonly signature: Hex
    }

export type SignedWrite = {
  readonly rawTransaction: Hex
  readonly hash: Hex
  /** Unix seconds. */
  readonly validBefore: number
}

export type EscrowClientOptions = {
  chain: Chain
  rpcUrl: string
  escrow: Address
  account: Account
  feeToken: Address
  /** How long to wait for a receipt before giving up (the outcome is then unknown). */
  receiptTimeoutMs?: number
}

export function createEscrowClient(options: EscrowClientOptions): EscrowClient {
  const rpc = createRpcPool({ url: options.rpcUrl, timeoutMs: 15_000 })
  const { transport } = rpc
  const publicClient = createPublicClient({ chain: options.chain, transport }) as PublicClient
  const receiptTimeout = options.receiptTimeoutMs ?? 30_000
  const receiptOf = async (hash: Hex) => {
    try {
      return await publicClient.getTransactionReceipt({ hash })
    } catch (error) {
      if (error instanceof TransactionReceiptNotFoundError) return undefined
      throw error
    }
  }
  const formatReceipt = (options.chain.formatters?.transactionReceipt?.format ??
    formatTransactionReceipt) as (raw: never) => TransactionReceipt
  /**
   * The receipts of every awaited hash in one JSON-RPC batch. Why not viem's getTransactionReceipt
   * per hash: a transaction not included yet is the common answer of a poll, and viem reports it by
   * building an error (stack trace included) per hash and poll.
   */
  const fetchReceipts: FetchReceipts = async (hashes) => {
    const answers = await rpc.batch(
      hashes.map((hash) => ({ method: 'eth_getTransactionReceipt', params: [hash] })),
    )
    return answers.map((answer) =>
      'result' in answer && answer.result ? formatReceipt(answer.result as never) : undefined,
    )
  }
  const receipts = createReceiptPoller({ fetch: fetchReceipts, intervalMs: 100, batchSize: 100 })
  const waitFor = (hash: Hex) => receipts.wait(hash, receiptTimeout)

  /**
   * The latest block's timestamp, read at most once a second; concurrent callers share the read.
   * Why a second-old figure is safe: it can only be lower than the truth, so a transaction signed
   * with it expires up to a second sooner, and an intent is judged able to land up to a second
   * longer — never dropped early. A failed read is not kept.
   */
  let blockTime: { readonly at: number; readonly value: Promise<number> } | undefined
  const latestBlockTime = () => {
    const at = Date.now()
    if (!blockTime || at - blockTime.at >= 1_000) {
      const value = publicClient.getBlock().then((block) => Number(block.timestamp))
      blockTime = { at, value }
      value.catch(() => {
        if (blockTime?.value === value) blockTime = undefined
      })
    }
    return blockTime.value
  }
  const chainTime = async () => {
    // An idle chain's last block can be old (the next one is stamped with the current time), and a
    // devnet's clock can be ahead of wall time: take the later of the two.
    return Math.max(await latestBlockTime(), Math.floor(Date.now() / 1000))
  }

  /** One `eth_call` of `getChannelStatesBatch`, coded by hand (escrow-reads.ts says why). */
  const readStates = async (channelIds: readonly Hex[]): Promise<ChainState[]> => {
    if (channelIds.length === 0) return []
    const data = encodeStatesBatchCall(channelIds)
    const result = await rpc.call('eth_call', [{ to: options.escrow, data }, 'latest'])
    return decodeStatesBatch(result, channelIds.length)
  }

  /**
   * Reads of the latest state asked for in one turn of the event loop, sent as one
   * `getChannelStatesBatch` call: the settlements whose receipts came in the same poll each read
   * their channel back (settlement/submit.ts), and one call serves them all.
   */
  let queued: { channelId: Hex; resolve: (s: ChainState) => void; reject: (e: unknown) => void }[] =
    []
  const flushReads = () => {
    const calls = queued
    queued = []
    for (let i = 0; i < calls.length; i += 100) {
      const chunk = calls.slice(i, i + 100)
      readStates(chunk.map((c) => c.channelId)).then(
        (states) => chunk.forEach((c, k) => c.resolve(states[k] as ChainState)),
        (error: unknown) => chunk.forEach((c) => c.reject(error)),
      )
    }
  }
  const readLatestState = (channelId: Hex) =>
    new Promise<ChainState>((resolve, reject) => {
      if (queued.length === 0) setImmediate(flushReads)
      queued.push({ channelId, resolve, reject })
    })

  const signHash = options.account.sign
  if (!signHash) throw new Error('escrow: the signing account must be a local account')
  const signPayload: SignPayload = (hash) => signHash({ hash })

  return {
    chainId: options.chain.id,
    escrow: options.escrow,
    publicClient,
    sender: options.account.address,
    async readState(channelId, blockNumber) {
      if (blockNumber === undefined) return readLatestState(channelId)
      const state = await publicClient.readContract({
        address: options.escrow,
        abi: escrowAbi,
        functionName: 'getChannelState',
        args: [channelId],
        blockNumber,
      })
      return {
        deposit: state.deposit,
        settled: state.settled,
        closeRequestedAt: state.closeRequestedAt,
      }
    },
    readStates,
    async broadcast(rawTransaction) {
      const hash = await publicClient.sendRawTransaction({ serializedTransaction: rawTransaction })
      return waitFor(hash)
    },
    async signWrite(call) {
      // Expires 25 s after the chain's clock: the expiry viem gives expiring-nonce transactions.
      const validBefore = (await chainTime()) + 25
      const unfilled = {
        to: options.escrow,
        data: encodeEscrowCall(call),
        feeToken: options.feeToken,
        validBefore,
        validAfter: randomValidAfter(),
      }
      // Gas and fees from the node, per transaction (escrow-tx.ts says why not cached).
      const filled = await rpc.call('eth_fillTransaction', [
        fillRequest(options.account.address, unfilled),
      ])
      // The chain id is the configured one, never asked for: it is signed into the transaction,
      // so a node of another chain refuses it.
      const signed = await signEscrowTransaction(
        { ...unfilled, ...feesOfFill(filled), chainId: options.chain.id },
        signPayload,
      )
      return { ...signed, validBefore }
    },
    async sendRaw(rawTransaction) {
      // Batched with the other broadcasts of this turn (rpc.ts); the answer is the hash.
      return (await rpc.call('eth_sendRawTransaction', [rawTransaction])) as Hex
    },
    receipt(hash) {
      return receiptOf(hash)
    },
    waitForReceipt(hash, timeoutMs) {
      return receipts.wait(hash, timeoutMs)
    },
    chainTime,
    close: () => rpc.close(),
    events<N extends 'ChannelOpened' | 'TopUp' | 'ChannelClosed' | 'Settled'>(
      receipt: TransactionReceipt,
      eventName: N,
      channelId: Hex,
    ) {
      return decodeEscrowEvents(
        receipt.logs,
        eventName,
        options.escrow,
        channelId,
      ) as EscrowEvent<N>[]
    },
  }
}
