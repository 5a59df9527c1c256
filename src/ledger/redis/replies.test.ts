import type { Hex } from 'viem'
import { describe, expect, it } from 'vitest'
import {
  decodeAcquireReply,
  decodeAuthorizeReply,
  decodeCommitReply,
  decodeOutcome,
  decodeRecordReply,
} from './replies.js'

const id: Hex = `0x${'ab'.repeat(32)}`
const snapshot = ['500', '300', '3', '100', '1000']
const figures = {
  channelId: id,
  accepted: 500n,
  spent: 300n,
  units: 3,
  reserved: 100n,
  deposit: 1000n,
}

describe('ledger script replies', () => {
  it('names every figure of an authorize reply', () => {
    expect(decodeAuthorizeReply(id, ['authorized', 'new', ...snapshot, '1', '250'])).toEqual({
      kind: 'authorized',
      voucher: 'new',
      snapshot: figures,
      newlyUnsettled: true,
      settleable: 250n,
    })
    expect(decodeAuthorizeReply(id, ['insufficient', '7', ...snapshot])).toEqual({
      kind: 'insufficient',
      available: 7n,
      snapshot: figures,
    })
    expect(decodeAuthorizeReply(id, ['voucher-rejected', 'delta-too-small', ...snapshot])).toEqual({
      kind: 'voucher-rejected',
      reason: 'delta-too-small',
      snapshot: figures,
    })
    expect(decodeAuthorizeReply(id, ['closing'])).toEqual({ kind: 'closing' })
  })

  it('names every figure of a commit reply', () => {
    expect(decodeCommitReply(id, ['committed', ...snapshot, '0', '300'])).toEqual({
      kind: 'committed',
      snapshot: figures,
      newlyUnsettled: false,
      settleable: 300n,
    })
    expect(decodeCommitReply(id, ['missing'])).toEqual({ kind: 'missing' })
  })

  it('throws, naming the script, on a reply that does not fit its layout', () => {
    expect(() => decodeAuthorizeReply(id, ['authorized', 'new', ...snapshot])).toThrow(
      /script authorize: no newlyUnsettled/,
    )
    expect(() => decodeAuthorizeReply(id, ['authorized', 'new', ...snapshot, '1'])).toThrow(
      /script authorize: no settleable/,
    )
    expect(() => decodeAuthorizeReply(id, ['authorized', 'maybe', ...snapshot, '1', '0'])).toThrow(
      /voucher outcome maybe/,
    )
    expect(() => decodeAuthorizeReply(id, ['voucher-rejected', 'tired', ...snapshot])).toThrow(
      /rejection tired/,
    )
    expect(() => decodeCommitReply(id, ['done'])).toThrow(/script commit: kind done/)
    expect(() => decodeCommitReply(id, 'OK')).toThrow(/script commit: no kind/)
    expect(() => decodeRecordReply(['ok', 'not a hash'], 'markClosing')).toThrow(
      /script markClosing: record is not a hash/,
    )
  })

  it('reads an outcome without a record', () => {
    expect(decodeRecordReply(['not-found'], 'finalize')).toEqual({
      kind: 'not-found',
      channel: undefined,
    })
  })

  it('decodes the settlement store scripts: a fence by name, outcomes from a closed list', () => {
    expect(decodeAcquireReply(['acquired', '12'])).toEqual({ kind: 'acquired', fence: 12 })
    expect(decodeAcquireReply(['held'])).toEqual({ kind: 'held' })
    expect(() => decodeAcquireReply(['acquired'])).toThrow(/script acquireLock: no fence/)
    expect(decodeOutcome(['saved'], 'saveIntent', ['saved', 'lost-lease'])).toBe('saved')
    expect(() => decodeOutcome([1], 'saveIntent', ['saved', 'lost-lease'])).toThrow(
      /script saveIntent: no kind/,
    )
    expect(() => decodeOutcome(['gone'], 'clearIntent', ['cleared', 'other'])).toThrow(
      /script clearIntent: kind gone/,
    )
  })
})
