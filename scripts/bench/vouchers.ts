/**
 * Payer side of the paid rows: channels opened by the real mppx client, vouchers signed with
 * libsecp256k1 (the `secp256k1` package's N-API binding), and `Authorization: Payment` voucher
 * credentials built the way the concurrency e2e suite builds them.
 *
 * Invariants:
 * - Signing happens only here, between measurement windows, never inside one.
 * - A signature is 65 bytes `r‖s‖v` with v ∈ {27, 28} and low s (libsecp256k1 normalizes s), the
 *   only secp256k1 form the gateway accepts; each channel's first signature is checked against
 *   the gateway's own `recoverVoucherSigner` so a wrong digest fails the setup, not the window.
 * - A voucher never exceeds its channel's deposit, read from the chain after the open.
 */
import { tempo } from 'mppx/client'
import { createRequire } from 'node:module'
import { createClient, formatUnits, http, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { escrowAbi } from '../../src/chain/escrow-abi.js'
import type { Descriptor } from '../../src/ledger/port.js'
import { parsePaymentChallenges } from '../../src/protocol/auth-params.js'
import { decodeBase64urlJson, encodeBase64url } from '../../src/protocol/base64url.js'
import { parseAuthorization } from '../../src/protocol/credential.js'
import { voucherSigner } from '../../src/session/channel-id.js'
import { parseSessionPayload } from '../../src/session/payload.js'
import { createVoucherDigester, recoverVoucherSigner } from '../../src/session/voucher-signature.js'
import type { DevnetClient, DevnetKey } from '../../test/devnet/devnet.js'

/** A channel the bench pays on, as its payer knows it. */
export type BenchChannel = {
  readonly channelId: Hex
  readonly descriptor: Descriptor
  readonly payer: DevnetKey
  /** On-chain deposit, in base units. */
  readonly deposit: bigint
  /** Cumulative amount of the voucher the open carried (already spent on the first request). */
  readonly openedAt: bigint
}

/** A challenge as the gateway issued it (auth-param names → values), echoed in credentials. */
export type EchoedChallenge = Readonly<Record<string, string>>

/** Signs `(channelId, cumulative)` vouchers for one payer key. */
export type VoucherSigner = (channelId: Hex, cumulative: bigint) => Hex

type NativeSigner = {
  ecdsaSign(message: Uint8Array, privateKey: Uint8Array): { signature: Uint8Array; recid: number }
}

/** Extra base units each payer gets on top of the deposit, so opening never runs short. */
const payerMargin = 10_000_000n

function loadNativeSigner(): NativeSigner {
  try {
    return createRequire(import.meta.url)('secp256k1/bindings') as NativeSigner
  } catch (cause) {
    throw new Error('the bench needs the native secp256k1 binding (npm package secp256k1)', {
      cause,
    })
  }
}

/** A libsecp256k1 voucher signer for one key on one chain and escrow. */
export function createNativeVoucherSigner(options: {
  chainId: number
  escrow: Hex
  privateKey: Hex
}): VoucherSigner {
  const native = loadNativeSigner()
  const digest = createVoucherDigester({ chainId: options.chainId, escrow: options.escrow })
  const key = Buffer.from(options.privateKey.slice(2), 'hex')
  return (channelId, cumulative) => {
    const message = Buffer.from(digest(channelId, cumulative).slice(2), 'hex')
    const { signature, recid } = native.ecdsaSign(message, key)
    const v = (27 + recid).toString(16)
    return `0x${Buffer.from(signature).toString('hex')}${v}`
  }
}

/** A fresh session challenge for a priced `url` (the 402 an unauthenticated request gets). */
export async function fetchChallenge(url: string): Promise<EchoedChallenge> {
  const response = await fetch(url)
  await response.arrayBuffer()
  const header = response.headers.get('www-authenticate')
  if (response.status !== 402 || header === null)
    throw new Error(`expected a 402 with a challenge from ${url}, got ${response.status}`)
  const challenge = parsePaymentChallenges(header).find(
    (c) => c.method === 'tempo' && c.intent === 'session',
  )
  if (!challenge) throw new Error(`no tempo session challenge from ${url}`)
  return challenge
}

/** The price a challenge states, in base units. */
export function challengePrice(challenge: EchoedChallenge): bigint {
  const request = decodeBase64urlJson(challenge.request ?? '') as { amount?: unknown }
  if (typeof request.amount !== 'string') throw new Error('challenge request has no amount')
  return BigInt(request.amount)
}

/** The `Authorization` value of a voucher credential, as the mppx client would send it. */
export function voucherCredential(options: {
  challenge: EchoedChallenge
  channel: BenchChannel
  chainId: number
  cumulative: bigint
  signature: Hex
}): string {
  const { channel } = options
  const credential = {
    challenge: options.challenge,
    source: `did:pkh:eip155:${options.chainId}:${channel.payer.address}`,
    payload: {
      action: 'voucher',
      channelId: channel.channelId,
      descriptor: channel.descriptor,
      cumulativeAmount: options.cumulative.toString(),
      signature: options.signature,
    },
  }
  return `Payment ${encodeBase64url(JSON.stringify(credential))}`
}

/**
 * Opens `count` channels on the gateway at `url` with the real mppx session client, one fresh
 * payer each, every one paying its first request to `path` (so `openedAt` is already spent).
 * The descriptor is read from the open credential mppx sends; the deposit from the chain.
 */
export async function openChannels(options: {
  devnet: DevnetClient
  url: string
  path: string
  count: number
  /** Deposit in base units; the gateway must suggest at least this much. */
  deposit: bigint
  decimals: number
}): Promise<BenchChannel[]> {
  const { devnet } = options
  // Funds for two deposits, so that a refused open (mppx then opens a second channel) shows as a
  // note instead of a failed run. Refused opens under load were a devnet race: two opens' nonce
  // hashes swapped in the stand-in's slot before anvil mined the first (rpc-proxy.ts now waits).
  const payers = await devnet.newPayers(options.count, 2n * options.deposit + payerMargin)
  return Promise.all(payers.map((payer) => openChannel({ ...options, payer })))
}

async function openChannel(options: {
  devnet: DevnetClient
  url: string
  path: string
  deposit: bigint
  decimals: number
  payer: DevnetKey
}): Promise<BenchChannel> {
  const { devnet, payer } = options
  let opened: { channelId: Hex; descriptor: Descriptor; cumulative: bigint } | undefined
  let openAttempts = 0
  // Watch what mppx sends to learn the channel descriptor, exactly as the gateway received it.
  const watching: typeof fetch = (input, init) => {
    const authorization = new Headers(init?.headers).get('authorization') ?? undefined
    const credential = parseAuthorization(authorization)
    if (credential) {
      const payload = parseSessionPayload(credential.payload)
      if (payload.action === 'open') {
        openAttempts += 1
        opened = {
          channelId: payload.channelId,
          descriptor: payload.descriptor,
          cumulative: payload.cumulativeAmount,
        }
      }
    }
    return fetch(input, init)
  }
  const client = createClient({
    account: privateKeyToAccount(payer.privateKey),
    chain: devnet.chain,
    transport: http(devnet.rpcUrl),
  })
  const session = tempo.session.manager({
    client,
    fetch: watching,
    maxDeposit: formatUnits(options.deposit, options.decimals),
  })
  const response = await session.fetch(`${options.url}${options.path}`)
  await response.arrayBuffer()
  if (response.status !== 200 || !opened)
    throw new Error(`opening a channel through ${options.url} answered ${response.status}`)
  if (openAttempts > 1)
    console.log(`note: mppx sent ${openAttempts} open credentials for payer ${payer.address}`)
  const state = await devnet.publicClient.readContract({
    address: devnet.escrow,
    abi: escrowAbi,
    functionName: 'getChannelState',
    args: [opened.channelId],
  })
  const channel: BenchChannel = {
    channelId: opened.channelId,
    descriptor: opened.descriptor,
    payer,
    deposit: state.deposit,
    openedAt: opened.cumulative,
  }
  checkSigner(devnet, channel)
  return channel
}

/** Fails fast unless a native signature recovers, in the gateway's code, to the channel signer. */
function checkSigner(devnet: DevnetClient, channel: BenchChannel): void {
  const sign = createNativeVoucherSigner({
    chainId: devnet.chainId,
    escrow: devnet.escrow,
    privateKey: channel.payer.privateKey,
  })
  const digest = createVoucherDigester({ chainId: devnet.chainId, escrow: devnet.escrow })
  const amount = channel.openedAt + 1n
  const recovered = recoverVoucherSigner(
    digest(channel.channelId, amount),
    sign(channel.channelId, amount),
  )
  const expected = voucherSigner(channel.descriptor).toLowerCase()
  if (recovered?.toLowerCase() !== expected)
    throw new Error(`native voucher signature recovers ${String(recovered)}, not ${expected}`)
}
