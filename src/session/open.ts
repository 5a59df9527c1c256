/**
 * The `open` action: a client-signed Tempo transaction that opens a channel to this gateway's
 * payee, plus the first voucher.
 *
 * Everything checkable offline is checked before the transaction is broadcast (decode, sender,
 * calls, descriptor, channel id, amounts, voucher signature), so a bad credential costs no chain
 * call and changes nothing. After broadcast the gateway believes only the chain: a successful
 * receipt, exactly one `ChannelOpened` for this id with the same deposit and nonce hash, and a
 * read-back of the channel state at that block. Re-sending an open whose channel the ledger
 * already knows is treated as a voucher on that channel (retries are safe).
 */
import { decodeFunctionData, toFunctionSelector, type Hex } from 'viem'
import { escrowAbi } from '../chain/escrow-abi.js'
import { GatewayError } from '../errors.js'
import type { Descriptor } from '../ledger/port.js'
import { authorizeVoucher, type Authorized, type VoucherUse } from './authorize.js'
import { broadcastClientTransaction, escrowCallOf } from './client-transaction.js'
import { stateAfter } from './state-after.js'
import { sameDescriptor } from './channel-id.js'
import type { SessionContext } from './context.js'
import type { OpenPayload } from './payload.js'
import { assertPayerAllowed } from './payer-block.js'
import { assertSource } from './source.js'
import { assertVoucherSignature } from './voucher-check.js'

const openSelector = toFunctionSelector('open(address,address,address,uint96,bytes32,address)')

const rejected = (detail: string) => new GatewayError('verification-failed', detail)

/** Decodes and checks the open transaction; returns the descriptor it proves and its deposit. */
export function inspectOpenTransaction(
  ctx: SessionContext,
  raw: Hex,
): { descriptor: Descriptor; deposit: bigint } {
  const { tx, call } = escrowCallOf(ctx, { raw, selector: openSelector, action: 'open' })
  let args: readonly [Hex, Hex, Hex, bigint, Hex, Hex]
  try {
    const decoded = decodeFunctionData({ abi: escrowAbi, data: call.data })
    if (decoded.functionName !== 'open') throw new Error('not open')
    args = decoded.args
  } catch {
    throw rejected('The open call cannot be decoded.')
  }
  const [payee, operator, token, deposit, salt, authorizedSigner] = args
  return {
    descriptor: {
      payer: tx.sender,
      payee,
      operator,
      token,
      salt: salt.toLowerCase() as Hex,
      authorizedSigner,
      expiringNonceHash: tx.expiringNonceHash.toLowerCase() as Hex,
    },
    deposit,
  }
}

export async function openChannel(
  ctx: SessionContext,
  input: { payload: OpenPayload; use: VoucherUse; source: string | undefined },
): Promise<Authorized & { txHash: Hex | undefined }> {
  const { payload, use } = input
  const channelId = payload.channelId
  ctx.channelTerms(channelId, payload.descriptor)
  assertSource({ source: input.source, chainId: ctx.terms.chainId, descriptor: payload.descriptor })
  const { descriptor, deposit } = inspectOpenTransaction(ctx, payload.transaction)
  if (!sameDescriptor(descriptor, payload.descriptor)) {
    throw rejected('The descriptor does not match the open transaction.')
  }
  // Before anything is broadcast: a blocked payer's deposit is never locked into a new channel.
  await assertPayerAllowed(ctx, descriptor.payer)
  if (deposit < use.amount) throw rejected('The deposit does not cover one request.')
  if (payload.cumulativeAmount < use.amount)
    throw rejected('The first voucher does not cover one request.')
  if (payload.cumulativeAmount > deposit) {
    throw new GatewayError('amount-exceeds-deposit', 'The voucher exceeds the channel deposit.')
  }
  assertVoucherSignature({
    verifier: ctx.vouchers,
    channelId,
    descriptor,
    cumulative: payload.cumulativeAmount,
    signature: payload.signature,
  })
  // Before the ledger and any broadcast; the voucher step below is not asked again.
  await use.admit?.({ payer: descriptor.payer, channelId })

  const voucher = {
    channelId,
    descriptor,
    cumulative: payload.cumulativeAmount,
    signature: payload.signature,
    use: { amount: use.amount, mode: use.mode },
  }
  if (await ctx.ledger.get(channelId)) {
    return { ...(await authorizeVoucher(ctx, voucher)), txHash: undefined }
  }
  // Only new channels: a re-sent open of a known channel is not refused by a later, higher minimum.
  if (deposit < ctx.terms.minDeposit) {
    throw new GatewayError('deposit-too-small', "The deposit is below this gateway's minimum.", {
      details: { deposit: deposit.toString(), minDeposit: ctx.terms.minDeposit.toString() },
    })
  }

  const receipt = await broadcastClientTransaction(ctx, {
    raw: payload.transaction,
    action: 'open',
  })
  const opened = ctx.escrow.events(receipt, 'ChannelOpened', channelId)
  const event = opened[0]
  if (opened.length !== 1 || !event)
    throw rejected('The transaction did not open this channel exactly once.')
  if (
    event.args.deposit !== deposit ||
    event.args.expiringNonceHash.toLowerCase() !== descriptor.expiringNonceHash
  ) {
    throw rejected('The opened channel differs from the transaction.')
  }
  const { state, atBlock } = await stateAfter(ctx, channelId, receipt.blockNumber)
  // Read later than its block, the deposit may only have grown since (a top-up).
  const depositMatches = atBlock ? state.deposit === deposit : state.deposit >= deposit
  if (!depositMatches || state.settled !== 0n || state.closeRequestedAt !== 0) {
    throw rejected('The channel state on chain differs from the open.')
  }

  await ctx.ledger.open(
    {
      channelId,
      chainId: ctx.terms.chainId,
      escrow: ctx.terms.escrow,
      descriptor,
      deposit,
      settled: 0n,
    },
    ctx.now(),
  )
  ctx.chainState.touch(channelId)
  return { ...(await authorizeVoucher(ctx, voucher)), txHash: receipt.transactionHash }
}
