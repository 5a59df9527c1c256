/**
 * Hand-made session credentials for tests that need exact control over vouchers (races, replays,
 * crashes): sign a voucher with the payer's key and wrap it with a challenge the gateway issued.
 */
import type { Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import type { Descriptor } from '../../src/ledger/port.js'
import { parsePaymentChallenges } from '../../src/protocol/auth-params.js'
import { encodeBase64url } from '../../src/protocol/base64url.js'

export type VoucherSigner = {
  /** An `Authorization` header value paying with a voucher of `cumulative`. */
  credential(cumulative: bigint): Promise<string>
  /** An `Authorization` header value closing the channel with a voucher of `cumulative`. */
  closeCredential(cumulative: bigint): Promise<string>
}

/** A challenge for a priced path, fetched from the gateway. */
export async function fetchChallenge(
  url: string,
  init?: RequestInit,
): Promise<Record<string, string>> {
  const response = await fetch(url, init)
  const header = response.headers.get('www-authenticate')
  if (response.status !== 402 || !header) throw new Error(`expected a 402 challenge from ${url}`)
  return parsePaymentChallenges(header)[0]!
}

/** EIP-712 voucher typed data of the TIP-1034 escrow (v2). */
export function voucherTypedData(options: {
  chainId: number
  escrow: Hex
  channelId: Hex
  cumulative: bigint
}) {
  return {
    domain: {
      name: 'TIP20 Channel Reserve',
      version: '1',
      chainId: options.chainId,
      verifyingContract: options.escrow,
    },
    types: {
      Voucher: [
        { name: 'channelId', type: 'bytes32' },
        { name: 'cumulativeAmount', type: 'uint96' },
      ],
    },
    primaryType: 'Voucher',
    message: { channelId: options.channelId, cumulativeAmount: options.cumulative },
  } as const
}

/** A voucher signature by `key`. */
export function signVoucher(
  key: Hex,
  options: { chainId: number; escrow: Hex; channelId: Hex; cumulative: bigint },
): Promise<Hex> {
  return privateKeyToAccount(key).signTypedData(voucherTypedData(options))
}

export function voucherSigner(options: {
  payerKey: Hex
  chainId: number
  escrow: Hex
  channelId: Hex
  descriptor: Descriptor
  challenge: Record<string, string>
}): VoucherSigner {
  const signed = async (action: 'voucher' | 'close', cumulative: bigint) => {
    const signature = await signVoucher(options.payerKey, { ...options, cumulative })
    const payload = {
      action,
      channelId: options.channelId,
      descriptor: options.descriptor,
      cumulativeAmount: cumulative.toString(),
      signature,
    }
    return `Payment ${encodeBase64url(JSON.stringify({ challenge: options.challenge, payload }))}`
  }
  return {
    credential: (cumulative) => signed('voucher', cumulative),
    closeCredential: (cumulative) => signed('close', cumulative),
  }
}
