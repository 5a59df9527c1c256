/**
 * The session snapshot (protocol.md §2.9): the server's view of a payer's open channel, from
 * which a client that lost its local state continues on that channel instead of opening another.
 * It travels in the `Payment-Session-Snapshot` header of a recovery answer (with the channel id in
 * `Payment-Session`), and as `methodDetails.sessionSnapshot` of a session challenge.
 *
 * Shape as mppx 0.11 reads it: amounts as base-unit decimal strings, the chain id a number, the
 * descriptor's seven fields, and the highest voucher with its signature (the client checks the
 * signature and the channel's state on chain before it trusts the figures). `closeRequestedAt` is
 * never set: a channel with a pending close is never offered for recovery.
 *
 * Header encoding: standard base64 (with padding) of the JSON text, as mppx writes it; the
 * protocol drafts say base64url, and mppx's decoder takes both.
 */
import type { Address, Hex } from 'viem'

export type SessionSnapshot = {
  readonly acceptedCumulative: string
  readonly chainId: number
  readonly channelId: Hex
  readonly deposit: string
  readonly descriptor: {
    readonly authorizedSigner: Address
    readonly expiringNonceHash: Hex
    readonly operator: Address
    readonly payee: Address
    readonly payer: Address
    readonly salt: Hex
    readonly token: Address
  }
  readonly escrow: Address
  readonly highestVoucher: {
    readonly channelId: Hex
    readonly cumulativeAmount: string
    readonly signature: Hex
  }
  /** The cumulative amount a voucher must reach for the request the snapshot answers. */
  readonly requiredCumulative: string
  readonly settled: string
  readonly spent: string
  readonly units: number
}

/** The `Payment-Session-Snapshot` header value of a snapshot. */
export function encodeSessionSnapshot(snapshot: SessionSnapshot): string {
  return Buffer.from(JSON.stringify(snapshot), 'utf8').toString('base64')
}
