/**
 * The escrow adapter: every read and write the gateway makes against the TIP-1034 channel
 * reserve, over viem.
 *
 * Writes (close, settle) are signed by the payee's or operator's key as Tempo transactions with an
 * expiring nonce, so several can be in flight without nonce clashes and each one's hash is known
 * before it is broadcast (the settlement machinery records it first). Client transactions (open,
 * topUp) are broadcast as the client signed them. A transaction counts only once its receipt is in
 * and successful.
 *
 * Receipts are awaited by hash only, all in-flight transactions polled together in one JSON-RPC
 * batch per poll (receipts.ts says why nonce-based waiting misreads expiring-nonce transactions).
 */
import {
  createPublicClient,
  createWalletClient,
  encodeFunctionData,
  http,
  keccak256,
  parseEventLogs,
  TransactionReceiptNotFoundError,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
} from 'viem'
import type { ChainState, Descriptor } from '../ledger/port.js'
import { escrowAbi } from './escrow-abi.js'
import { createReceiptPoller, type FetchReceipts } from './receipts.js'

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

const tuple = (d: Descriptor) => ({
  payer: d.payer,
  payee: d.payee,
  operator: d.operator,
  token: d.token,
  salt: d.salt,
  authorizedSigner: d.authorizedSigner,
  expiringNonceHash: d.expiringNonceHash,
})

export function createEscrowClient(options: EscrowClientOptions): EscrowClient {
  const transport = http(options.rpcUrl, { retryCount: 0, timeout: 15_000 })
  const publicClient = createPublicClient({ chain: options.chain, transport }) as PublicClient
  const wallet = createWalletClient({ account: options.account, chain: options.chain, transport })
  const receiptTimeout = options.receiptTimeoutMs ?? 30_000
  // A client of its own for receipts: calls made in one tick go out as one JSON-RPC batch.
  const batchClient = createPublicClient({
    chain: options.chain,
    transport: http(options.rpcUrl, { retryCount: 0, timeout: 15_000, batch: { batchSize: 100 } }),
  }) as PublicClient
  const receiptOf = async (client: PublicClient, hash: Hex) => {
    try {
      return await client.getTransactionReceipt({ hash })
    } catch (error) {
      if (error instanceof TransactionReceiptNotFoundError) return undefined
      throw error
    }
  }
  const fetchReceipts: FetchReceipts = (hashes) =>
    Promise.all(hashes.map((hash) => receiptOf(batchClient, hash)))
  const receipts = createReceiptPoller({ fetch: fetchReceipts, intervalMs: 100, batchSize: 100 })
  const waitFor = (hash: Hex) => receipts.wait(hash, receiptTimeout)

  const chainTime = async () => {
    const block = await publicClient.getBlock()
    // An idle chain's last block can be old (the next one is stamped with the current time), and a
    // devnet's clock can be ahead of wall time: take the later of the two.
    return Math.max(Number(block.timestamp), Math.floor(Date.now() / 1000))
  }

  const argsOf = (call: EscrowWrite) =>
    call.functionName === 'settle'
      ? [tuple(call.descriptor), call.cumulative, call.signature]
      : [tuple(call.descriptor), call.cumulative, call.capture, call.signature]

  return {
    chainId: options.chain.id,
    escrow: options.escrow,
    publicClient,
    sender: options.account.address,
    async readState(channelId, blockNumber) {
      const state = await publicClient.readContract({
        address: options.escrow,
        abi: escrowAbi,
        functionName: 'getChannelState',
        args: [channelId],
        ...(blockNumber !== undefined ? { blockNumber } : {}),
      })
      return {
        deposit: state.deposit,
        settled: state.settled,
        closeRequestedAt: state.closeRequestedAt,
      }
    },
    async readStates(channelIds) {
      const states = await publicClient.readContract({
        address: options.escrow,
        abi: escrowAbi,
        functionName: 'getChannelStatesBatch',
        args: [channelIds],
      })
      return states.map((s) => ({
        deposit: s.deposit,
        settled: s.settled,
        closeRequestedAt: s.closeRequestedAt,
      }))
    },
    async broadcast(rawTransaction) {
      const hash = await publicClient.sendRawTransaction({ serializedTransaction: rawTransaction })
      return waitFor(hash)
    },
    async signWrite(call) {
      const validBefore = (await chainTime()) + 25
      // The casts: viem's generic wallet types do not know the Tempo transaction fields
      // (`feeToken`, `nonceKey`, `validBefore`) that the chain's formatter serializes.
      const request = await wallet.prepareTransactionRequest({
        to: options.escrow,
        data: encodeFunctionData({
          abi: escrowAbi,
          functionName: call.functionName,
          args: argsOf(call) as never,
        }),
        feeToken: options.feeToken,
        nonceKey: 'expiring',
        validBefore,
      } as never)
      const rawTransaction: Hex = await wallet.signTransaction(request as never)
      return { rawTransaction, hash: keccak256(rawTransaction), validBefore }
    },
    sendRaw(rawTransaction) {
      return publicClient.sendRawTransaction({ serializedTransaction: rawTransaction })
    },
    receipt(hash) {
      return receiptOf(publicClient, hash)
    },
    waitForReceipt(hash, timeoutMs) {
      return receipts.wait(hash, timeoutMs)
    },
    chainTime,
    events(receipt, eventName, channelId) {
      const logs = receipt.logs.filter(
        (log) => log.address.toLowerCase() === options.escrow.toLowerCase(),
      )
      return parseEventLogs({ abi: escrowAbi, eventName, logs }).filter(
        (event) =>
          (event.args as { channelId: Hex }).channelId.toLowerCase() === channelId.toLowerCase(),
      )
    },
  }
}
