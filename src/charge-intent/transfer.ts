/**
 * What a one-shot charge must find in the payer's transaction (pull) or in its receipt (push),
 * checked as mppx 0.11's `tempo.charge` server checks it:
 *
 *  - pull: a signed Tempo (0x76) transaction for this chain whose calls are TIP-20 `transfer` /
 *    `transferWithMemo` calls only (optionally after mppx's `approve` + stablecoin-DEX
 *    `swapExactAmountOut` prefix, which swaps into the currency first); the first call to the
 *    currency paying the recipient exactly the price is the payment, and it must carry the
 *    challenge-bound memo (memo.ts);
 *  - push: a successful receipt with a `TransferWithMemo` event of the currency from the payer (the
 *    credential's `source`, else the transaction's sender) to the recipient of exactly the price,
 *    its memo bound to the challenge.
 *
 * Other calls or events beside the payment are the payer's business, as in mppx. Pure functions:
 * the chain is read by the caller (gate/payment.ts). Failures are `verification-failed`.
 */
import {
  decodeFunctionData,
  parseEventLogs,
  toFunctionSelector,
  type Address,
  type Hex,
  type TransactionReceipt,
} from 'viem'
import { Abis } from 'viem/tempo'
import { decodeTempoTransaction, type DecodedTempoTx } from '../chain/tempo-tx.js'
import { GatewayError } from '../errors.js'
import { isBoundMemo } from './memo.js'

/** The transfer a charge challenge asks for, and the challenge its memo must name. */
export type ExpectedTransfer = {
  readonly chainId: number
  readonly currency: Address
  readonly recipient: Address
  readonly amount: bigint
  readonly realm: string
  readonly challengeId: string
}

const selectors = {
  approve: toFunctionSelector('approve(address,uint256)'),
  swapExactAmountOut: toFunctionSelector('swapExactAmountOut(address,address,uint128,uint128)'),
  transfer: toFunctionSelector('transfer(address,uint256)'),
  transferWithMemo: toFunctionSelector('transferWithMemo(address,uint256,bytes32)'),
}

const mismatch = (detail: string) => new GatewayError('verification-failed', detail)

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()

/**
 * The pull payment: decodes `raw` and checks that it pays `expected`. Returns the decoded
 * transaction (its sender is the payer).
 */
export function checkPaymentTransaction(raw: Hex, expected: ExpectedTransfer): DecodedTempoTx {
  let tx: DecodedTempoTx
  try {
    tx = decodeTempoTransaction(raw)
  } catch {
    throw mismatch('The charge transaction is not a signed Tempo (0x76) transaction.')
  }
  if (tx.chainId !== expected.chainId)
    throw mismatch('The charge transaction is for another chain.')
  const selectorsOf = tx.calls.map((call) => call.data.slice(0, 10).toLowerCase())
  const offset =
    selectorsOf[0] === selectors.approve && selectorsOf[1] === selectors.swapExactAmountOut ? 2 : 0
  const transfers = tx.calls.slice(offset)
  if (
    transfers.length === 0 ||
    selectorsOf
      .slice(offset)
      .some((s) => s !== selectors.transfer && s !== selectors.transferWithMemo)
  ) {
    throw mismatch('The charge transaction makes other calls than transfers.')
  }
  const payment = transfers
    .map((call) => (same(call.to, expected.currency) ? decodeTransfer(call.data) : undefined))
    .find(
      (decoded) =>
        decoded !== undefined &&
        same(decoded.to, expected.recipient) &&
        decoded.amount === expected.amount,
    )
  if (!payment) throw mismatch('The charge transaction does not pay the price to the payee.')
  if (payment.memo === undefined || !isBoundMemo(payment.memo, expected)) {
    throw mismatch('The charge transfer does not carry a memo bound to this challenge.')
  }
  return tx
}

/**
 * Whether a checked payment transaction is transfers only (no swap prefix): each of its calls can
 * then be simulated on its own, as a plain call from the payer.
 */
export function isTransfersOnly(tx: DecodedTempoTx): boolean {
  return tx.calls.every((call) => {
    const selector = call.data.slice(0, 10).toLowerCase()
    return selector === selectors.transfer || selector === selectors.transferWithMemo
  })
}

/**
 * The push payment: checks that `receipt` (of the client's own broadcast) paid `expected` from
 * `payer`, or from the transaction's sender when the credential named no source.
 */
export function checkPaymentReceipt(
  receipt: TransactionReceipt,
  expected: ExpectedTransfer,
  payer: Address | undefined,
): void {
  if (receipt.status !== 'success') throw mismatch('The charge transaction reverted.')
  const sender = payer ?? receipt.from
  const logs = parseEventLogs({
    abi: Abis.tip20,
    eventName: 'TransferWithMemo',
    logs: receipt.logs.filter((log) => same(log.address, expected.currency)),
  })
  const paid = logs.some(
    (log) =>
      same(log.args.from, sender) &&
      same(log.args.to, expected.recipient) &&
      log.args.amount === expected.amount &&
      isBoundMemo(log.args.memo, expected),
  )
  if (!paid) {
    throw mismatch('The transaction does not pay the price to the payee for this challenge.')
  }
}

/**
 * The payer a push credential names: its `did:pkh:eip155:<chainId>:<address>` source on this
 * chain; `undefined` without one (the transaction's sender then counts).
 */
export function sourcePayer(source: string | undefined, chainId: number): Address | undefined {
  if (source === undefined) return undefined
  const match = /^did:pkh:eip155:(0|[1-9]\d*):(0x[0-9a-fA-F]{40})$/.exec(source)
  if (!match || Number(match[1]) !== chainId) {
    throw mismatch('The credential source is not an account on this chain.')
  }
  return match[2] as Address
}

function decodeTransfer(data: Hex): { to: Address; amount: bigint; memo?: Hex } | undefined {
  try {
    const decoded = decodeFunctionData({ abi: Abis.tip20, data })
    if (decoded.functionName === 'transfer') {
      const [to, amount] = decoded.args
      return { to, amount }
    }
    if (decoded.functionName === 'transferWithMemo') {
      const [to, amount, memo] = decoded.args
      return { to, amount, memo }
    }
  } catch {
    return undefined
  }
  return undefined
}
