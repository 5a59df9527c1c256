/**
 * A request paid with a one-shot Tempo charge (MPP `tempo/charge`, protocol.md §3): one TIP-20
 * transfer of the route's price to the payee, bound to the challenge by its memo, used once.
 *
 *   admit     verify the challenge (HMAC, route's terms, expiry); the payload (charge-intent/);
 *             pull: the signed transfer, simulated against the chain; push: the client's own
 *             broadcast, read back from its receipt; then claim the transaction hash for single
 *             use in the ledger store — atomically, so a replay on any instance is refused
 *   atHead    pull: a served status (every status under `charge: always`) broadcasts the transfer
 *             and waits for its receipt before our head is written; any other status broadcasts
 *             nothing and gives the claim back (the same credential may pay a retry)
 *             push: already settled — every status is charged
 *
 * Why pull is charge-on-success: the client hands over a transaction it signed but did not send,
 * so nothing has moved until the gateway sends it, and the gateway sends it only for an answer
 * worth paying. Why push cannot be: the client broadcast the transfer before it asked, so the
 * payment is final before the upstream is called; an upstream failure leaves it paid (the
 * operator can refuse push with `tempoCharge.modes: [pull]`). docs/DESIGN.md has both tables.
 *
 * A broadcast that the chain refuses, or whose receipt shows no payment, is answered
 * `402 payment-failed` instead of the upstream's answer: the payer did not pay, so the answer is
 * withheld. A broadcast whose outcome is unknown (the chain did not answer in time) delivers the
 * answer with the receipt of the transaction's hash: the transfer may well land, and a payer that
 * paid must not get an error for it — the same trade-off as an unknown session commit
 * (gate/charge.ts). Such an answer is counted as `unknown` on the access line.
 */
import { randomUUID } from 'node:crypto'
import {
  HttpRequestError,
  keccak256,
  TimeoutError,
  type Address,
  type Hex,
  type TransactionReceipt,
} from 'viem'
import { Transaction } from 'viem/tempo'
import type { Logger } from 'pino'
import { ReceiptTimeoutError } from '../chain/receipts.js'
import type { DecodedTempoTx } from '../chain/tempo-tx.js'
import { parseChargePayload } from '../charge-intent/payload.js'
import {
  checkPaymentReceipt,
  checkPaymentTransaction,
  isTransfersOnly,
  sourcePayer,
  type ExpectedTransfer,
} from '../charge-intent/transfer.js'
import { GatewayError } from '../errors.js'
import type { ChallengeIssuer } from '../pricing/challenges.js'
import type { Route } from '../pricing/route-table.js'
import type { Credential } from '../protocol/credential.js'
import { chargeReceipt } from '../protocol/receipt.js'
import type { SessionContext } from '../session/context.js'
import type { Answer } from './answer.js'
import type { Charge, ChargeResolution, HeadDecision } from './charge.js'

export type PaymentDeps = {
  readonly challenges: ChallengeIssuer
  /** The chain (escrow client, reachability), the ledger, the terms and the clock. */
  readonly session: SessionContext
  readonly logger: Logger
  /** A problem answer for this request (with the receipt, when the request was paid). */
  readonly problem: (error: GatewayError, receipt: string | undefined) => Answer
}

/** How long a claim outlives its challenge: clocks of instances and Redis differ a little. */
const claimMarginMs = 60_000

/** Verifies and claims a charge credential for `route`; returns the request's charge. */
export async function admitPayment(
  deps: PaymentDeps,
  options: { route: Route; credential: Credential },
): Promise<Charge> {
  const { route, credential } = options
  const { terms, ledger } = deps.session
  const now = deps.session.now()
  const { challenge } = credential
  deps.challenges.verify(route, challenge, now, 'charge')
  if (route.price === undefined) throw new Error(`route ${route.index} is free`)
  const payload = parseChargePayload(credential.payload)
  const modes = terms.chargeModes ?? ['pull', 'push']
  const mode = payload.type === 'transaction' ? 'pull' : 'push'
  if (!modes.includes(mode)) {
    throw new GatewayError(
      'verification-failed',
      `This gateway does not take ${payload.type} charge credentials (supportedModes).`,
    )
  }
  const expected: ExpectedTransfer = {
    chainId: terms.chainId,
    currency: terms.currency,
    recipient: terms.recipient,
    amount: route.price,
    realm: challenge.realm,
    challengeId: challenge.id,
  }
  let txHash: Hex
  let raw: Hex | undefined
  let payer: Address
  if (payload.type === 'transaction') {
    const tx = checkPaymentTransaction(payload.transaction, expected)
    if (tx.validBefore !== undefined && tx.validBefore * 1000 <= now) {
      throw new GatewayError('verification-failed', 'The charge transaction has expired.')
    }
    // The node hashes the canonical encoding, so the claim does too: another encoding of the
    // same signed transfer is the same payment.
    const canonical = await canonicalOf(payload.transaction)
    const { decoded } = canonical
    raw = canonical.raw
    txHash = keccak256(raw)
    payer = tx.sender
    // A chain that just failed a read is not asked again: the client learns now what a 503 says.
    if (!deps.session.chainState.reachable()) throw chainUnavailable()
    await simulate(deps, decoded, tx)
  } else {
    const source = sourcePayer(credential.source, terms.chainId)
    if (!deps.session.chainState.reachable()) throw chainUnavailable()
    const receipt = await readReceipt(deps, payload.hash)
    checkPaymentReceipt(receipt, expected, source)
    payer = source ?? receipt.from
    txHash = payload.hash
  }

  const owner = randomUUID()
  const expires = Date.parse(challenge.expires ?? '')
  const claimed = await ledger.claimPayment({
    key: txHash,
    owner,
    expiresAt: Math.max(expires, now) + claimMarginMs,
    now,
  })
  if (claimed.kind === 'used') {
    throw new GatewayError('payment-already-used', 'This payment has already paid for a request.', {
      details: { txHash },
    })
  }
  deps.logger.debug({ txHash, payer, mode }, 'charge claimed')
  return createPaymentCharge(deps, {
    route,
    expected,
    txHash,
    raw,
    owner,
    mode,
    challengeId: challenge.id,
  })
}

function createPaymentCharge(
  deps: PaymentDeps,
  p: {
    route: Route
    expected: ExpectedTransfer
    txHash: Hex
    raw: Hex | undefined
    owner: string
    mode: 'pull' | 'push'
    challengeId: string
  },
): Charge {
  const { route, txHash } = p
  const price = p.expected.amount
  type Outcome = ChargeResolution & { readonly error?: GatewayError }
  let decided: Outcome | undefined
  let deciding: Promise<Outcome> | undefined

  const collect = async (): Promise<Outcome> => {
    if (p.raw === undefined) return { kind: 'committed', charged: price }
    let receipt: TransactionReceipt
    try {
      receipt = await deps.session.escrow.broadcast(p.raw)
    } catch (error) {
      if (
        error instanceof HttpRequestError ||
        error instanceof TimeoutError ||
        isWaitTimeout(error)
      ) {
        deps.logger.warn({ txHash, err: summary(error) }, 'charge broadcast outcome unknown')
        return { kind: 'unknown', charged: undefined }
      }
      deps.logger.info({ txHash, err: summary(error) }, 'charge broadcast refused')
      return refused('The chain refused the payment transaction; the answer is withheld.')
    }
    try {
      if (receipt.transactionHash.toLowerCase() !== txHash.toLowerCase()) {
        throw new Error('the chain reports another transaction')
      }
      checkPaymentReceipt(receipt, p.expected, undefined)
    } catch {
      return refused('The payment transaction did not pay; the answer is withheld.')
    }
    return { kind: 'committed', charged: price }
  }

  const refused = (detail: string): Outcome => ({
    kind: 'refused',
    charged: 0n,
    error: new GatewayError('payment-failed', detail, { details: { txHash } }),
  })

  const giveBack = async (): Promise<Outcome> => {
    // A push payment is final already: nothing to give back.
    if (p.raw === undefined) return { kind: 'committed', charged: price }
    // Nothing was broadcast; the claim would lapse by itself, so a failure here loses nothing.
    await deps.session.ledger.releasePayment(txHash, p.owner).catch((error: unknown) => {
      deps.logger.warn({ txHash, err: summary(error) }, 'charge claim not released')
    })
    return { kind: 'released', charged: 0n }
  }

  const decide = (serve: boolean): Promise<Outcome> => {
    deciding ??= (serve ? collect() : giveBack()).then((r) => (decided = r))
    return deciding
  }

  const receipt = (outcome: Outcome) =>
    outcome.kind === 'committed' || outcome.kind === 'unknown'
      ? chargeReceipt({ txHash, challengeId: p.challengeId, now: deps.session.now() })
      : undefined

  return {
    route,
    payment: { txHash, mode: p.mode },
    async atHead(status): Promise<HeadDecision> {
      const outcome = await decide(route.charge === 'always' || route.served(status))
      if (outcome.error) return { kind: 'refuse', answer: deps.problem(outcome.error, undefined) }
      const paid = receipt(outcome)
      return {
        kind: 'deliver',
        headers: paid ? { 'payment-receipt': paid, 'cache-control': 'private' } : {},
      }
    },
    async withoutHead(error) {
      const outcome = await decide(route.charge === 'always')
      return error ? deps.problem(error, receipt(outcome)) : undefined
    },
    async cancel(error) {
      const paid = receipt(await decide(false))
      return { receipt: paid, answer: error ? deps.problem(error, paid) : undefined }
    },
    resolution: () => decided && { kind: decided.kind, charged: decided.charged },
  }
}

/** The transaction decoded by viem and re-encoded canonically (what the node hashes and runs). */
async function canonicalOf(transaction: Hex) {
  try {
    const decoded = Transaction.deserialize(transaction as Transaction.TransactionSerialized)
    return { decoded, raw: await Transaction.serialize(decoded) }
  } catch {
    throw new GatewayError('verification-failed', 'The charge transaction cannot be re-encoded.')
  }
}

/**
 * Runs the payer's transaction as a call before anything is forwarded, as mppx does before it
 * broadcasts a transaction it did not sponsor: a transfer the payer cannot fund is refused now,
 * not after the upstream served. The whole batch goes as one Tempo call (what mppx sends); a
 * transaction of transfers only is also run call by call as plain calls, which every node
 * executes (a node that ignores `calls` in `eth_call`, as the local anvil does, would otherwise
 * let an unfundable transfer through to the broadcast).
 */
async function simulate(
  deps: PaymentDeps,
  decoded: ReturnType<typeof Transaction.deserialize>,
  tx: DecodedTempoTx,
): Promise<void> {
  const client = deps.session.escrow.publicClient
  try {
    await client.call({
      ...(decoded as object),
      account: tx.sender,
      feePayerSignature: undefined,
    } as never)
    if (isTransfersOnly(tx)) {
      for (const call of tx.calls) {
        await client.call({ account: tx.sender, to: call.to, data: call.data })
      }
    }
  } catch (error) {
    if (error instanceof HttpRequestError || error instanceof TimeoutError) {
      throw chainUnavailable(error)
    }
    throw new GatewayError(
      'transaction-rejected',
      'The chain would refuse the charge transaction (funds, fees or nonce).',
      { cause: error },
    )
  }
}

/** The receipt of a push payment; a transaction the chain does not know is not a payment. */
async function readReceipt(deps: PaymentDeps, hash: Hex): Promise<TransactionReceipt> {
  let receipt: TransactionReceipt | undefined
  try {
    receipt = await deps.session.escrow.receipt(hash)
  } catch (error) {
    throw chainUnavailable(error)
  }
  if (!receipt) {
    throw new GatewayError('verification-failed', 'The charge transaction is not on chain.')
  }
  return receipt
}

function chainUnavailable(cause?: unknown): GatewayError {
  return new GatewayError('chain-unavailable', 'The chain is not answering; try again shortly.', {
    retryAfter: 2,
    ...(cause === undefined ? {} : { cause }),
  })
}

/** The receipt poller gave up waiting (chain/receipts.ts): the outcome is unknown. */
function isWaitTimeout(error: unknown): boolean {
  return error instanceof ReceiptTimeoutError
}

function summary(error: unknown): { name: string; message: string } {
  if (!(error instanceof Error)) return { name: 'unknown', message: String(error) }
  return { name: error.name, message: error.message.split('\n')[0] ?? '' }
}
