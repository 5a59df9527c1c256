/**
 * Decoding of signed Tempo (0x76) transactions, as clients hand them to the gateway inside `open`
 * and `topUp` credentials.
 *
 * The sender is recovered from the transaction's own signature, never taken from a claim, and the
 * TIP-1034 `expiringNonceHash` is recomputed exactly as the node does:
 * `keccak256(encodeForSigning(tx) ‖ sender)`, where the signing encoding omits the fee payer's
 * signature (so a sponsor's co-signature cannot change a channel id).
 */
import { Hash, Hex } from 'ox'
import { SignatureEnvelope, TxEnvelopeTempo } from 'ox/tempo'
import type { Address } from 'viem'

export type TempoCall = { readonly to: Address; readonly data: Hex.Hex; readonly value: bigint }

export type DecodedTempoTx = {
  readonly sender: Address
  readonly calls: readonly TempoCall[]
  readonly chainId: number
  readonly expiringNonceHash: Hex.Hex
  readonly nonceKey: bigint
  readonly validBefore: number | undefined
  readonly sponsored: boolean
}

/** True when `raw` carries a Tempo transaction type byte (0x76, or 0x78 for a fee-payer envelope). */
export function isTempoTransaction(raw: string): boolean {
  const prefix = raw.slice(0, 4).toLowerCase()
  return prefix === '0x76' || prefix === '0x78'
}

/**
 * Decodes a signed 0x76 transaction and recovers its sender. Throws on anything that is not a
 * well-formed, signed Tempo transaction.
 */
export function decodeTempoTransaction(raw: Hex.Hex): DecodedTempoTx {
  if (!raw.toLowerCase().startsWith('0x76')) throw new Error('not a Tempo (0x76) transaction')
  const envelope = TxEnvelopeTempo.deserialize(raw as TxEnvelopeTempo.Serialized)
  if (!envelope.signature) throw new Error('transaction is not signed')
  const signature = envelope.signature
  const sender = SignatureEnvelope.extractAddress({
    payload: TxEnvelopeTempo.getSignPayload(envelope),
    signature,
    root: true,
  })
  const signingBytes = TxEnvelopeTempo.encodeForSigning(envelope)
  return {
    sender: sender,
    calls: envelope.calls.map((call) => ({
      to: call.to as Address,
      data: call.data ?? '0x',
      value: call.value ?? 0n,
    })),
    chainId: envelope.chainId,
    expiringNonceHash: Hash.keccak256(Hex.concat(signingBytes, sender)),
    nonceKey: envelope.nonceKey ?? 0n,
    validBefore: envelope.validBefore,
    sponsored: envelope.feePayerSignature !== undefined,
  }
}
