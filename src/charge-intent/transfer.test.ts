import {
  concatHex,
  encodeFunctionData,
  keccak256,
  parseAbi,
  stringToBytes,
  type Address,
  type Hex,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { tempoLocalnet } from 'viem/chains'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors.js'
import { isBoundMemo } from './memo.js'
import { parseChargePayload } from './payload.js'
import { checkPaymentTransaction, sourcePayer, type ExpectedTransfer } from './transfer.js'

const tip20 = parseAbi([
  'function transfer(address to, uint256 amount) returns (bool)',
  'function transferWithMemo(address to, uint256 amount, bytes32 memo)',
  'function approve(address spender, uint256 amount) returns (bool)',
])
const currency: Address = '0x20C0000000000000000000000000000000000000'
const recipient = privateKeyToAccount(generatePrivateKey()).address
const expected: ExpectedTransfer = {
  chainId: 1337,
  currency,
  recipient,
  amount: 10_000n,
  realm: 'api.example.com',
  challengeId: 'X6v1eo7fJ76gAxqY0xN9Jd__4lUyDDYmriryOM-5FO4',
}

/** The memo layout written out byte by byte: tag, version, server, client, challenge nonce. */
function memo(options: { realm: string; challengeId: string; tag?: Hex; version?: Hex }): Hex {
  const slice = (text: string, bytes: number): Hex =>
    `0x${keccak256(stringToBytes(text)).slice(2, 2 + bytes * 2)}`
  return concatHex([
    options.tag ?? slice('mpp', 4),
    options.version ?? '0x01',
    slice(options.realm, 10),
    slice('some client', 10),
    slice(options.challengeId, 7),
  ])
}
const bound = memo(expected)

const account = privateKeyToAccount(generatePrivateKey())
async function signed(
  calls: { to: Address; data: Hex }[],
  options: { chainId?: number } = {},
): Promise<Hex> {
  return account.signTransaction(
    {
      type: 'tempo',
      chainId: options.chainId ?? expected.chainId,
      calls,
      nonceKey: 2n ** 256n - 1n,
      nonce: 0,
      gas: 100_000n,
      maxFeePerGas: 1n,
      maxPriorityFeePerGas: 1n,
      validBefore: 2_000_000_000,
    } as never,
    { serializer: tempoLocalnet.serializers.transaction as never },
  )
}
const transferCall = (args: { to?: Address; amount?: bigint; memo?: Hex; token?: Address }) => ({
  to: args.token ?? currency,
  data:
    args.memo === undefined
      ? encodeFunctionData({
          abi: tip20,
          functionName: 'transfer',
          args: [args.to ?? recipient, args.amount ?? expected.amount],
        })
      : encodeFunctionData({
          abi: tip20,
          functionName: 'transferWithMemo',
          args: [args.to ?? recipient, args.amount ?? expected.amount, args.memo],
        }),
})

function failure(run: () => unknown): string {
  try {
    run()
  } catch (error) {
    if (error instanceof GatewayError) return `${error.code}: ${error.message}`
    throw error
  }
  return 'accepted'
}

describe('the attribution memo', () => {
  it('binds a transfer to this realm and this challenge only', () => {
    expect(isBoundMemo(bound, expected)).toBe(true)
    expect(isBoundMemo(bound.toUpperCase().replace('0X', '0x') as Hex, expected)).toBe(true)
    expect(isBoundMemo(memo({ ...expected, challengeId: 'another' }), expected)).toBe(false)
    expect(isBoundMemo(memo({ ...expected, realm: 'elsewhere' }), expected)).toBe(false)
    expect(isBoundMemo(memo({ ...expected, version: '0x02' }), expected)).toBe(false)
    expect(isBoundMemo(memo({ ...expected, tag: '0x00000000' }), expected)).toBe(false)
    expect(isBoundMemo(`0x${'00'.repeat(32)}`, expected)).toBe(false)
    expect(isBoundMemo('0x1234', expected)).toBe(false)
  })
})

describe('a pull payment (the signed transaction)', () => {
  it('is accepted when it pays the price to the payee with a bound memo; the payer is its signer', async () => {
    const tx = checkPaymentTransaction(await signed([transferCall({ memo: bound })]), expected)
    expect(tx.sender.toLowerCase()).toBe(account.address.toLowerCase())
  })

  it('may carry other transfers beside it, as mppx allows', async () => {
    const raw = await signed([
      transferCall({ to: account.address, amount: 1n }),
      transferCall({ memo: bound }),
    ])
    expect(failure(() => checkPaymentTransaction(raw, expected))).toBe('accepted')
  })

  it.each([
    ['another amount', () => [transferCall({ memo: bound, amount: 9_999n })]],
    ['another recipient', () => [transferCall({ memo: bound, to: account.address })]],
    [
      'another token',
      () => [transferCall({ memo: bound, token: '0x20c0000000000000000000000000000000000001' })],
    ],
  ])('is refused for %s', async (_name, calls) => {
    const raw = await signed(calls())
    expect(failure(() => checkPaymentTransaction(raw, expected))).toBe(
      'verification-failed: The charge transaction does not pay the price to the payee.',
    )
  })

  it('is refused without a memo bound to this challenge', async () => {
    const unbound =
      'verification-failed: The charge transfer does not carry a memo bound to this challenge.'
    for (const call of [
      transferCall({}),
      transferCall({ memo: memo({ ...expected, challengeId: 'an earlier challenge' }) }),
      transferCall({ memo: memo({ ...expected, realm: 'another.gateway' }) }),
    ]) {
      const raw = await signed([call])
      expect(failure(() => checkPaymentTransaction(raw, expected))).toBe(unbound)
    }
  })

  it('is refused when it calls anything but transfers, or is for another chain', async () => {
    const approve = {
      to: currency,
      data: encodeFunctionData({
        abi: tip20,
        functionName: 'approve',
        args: [account.address, 10n ** 18n],
      }),
    }
    const noCalls = await signed([])
    expect(failure(() => checkPaymentTransaction(noCalls, expected))).toBe(
      'verification-failed: The charge transaction makes other calls than transfers.',
    )
    expect(failure(() => checkPaymentTransaction('0x02f8', expected))).toBe(
      'verification-failed: The charge transaction is not a signed Tempo (0x76) transaction.',
    )
    const withApprove = await signed([transferCall({ memo: bound }), approve])
    expect(failure(() => checkPaymentTransaction(withApprove, expected))).toBe(
      'verification-failed: The charge transaction makes other calls than transfers.',
    )
    const otherChain = await signed([transferCall({ memo: bound })], { chainId: 4217 })
    expect(failure(() => checkPaymentTransaction(otherChain, expected))).toBe(
      'verification-failed: The charge transaction is for another chain.',
    )
  })
})

describe('the charge payload and source', () => {
  it('takes a transaction or a hash, and refuses a proof and anything malformed', () => {
    const hash = `0x${'ab'.repeat(32)}`
    expect(
      parseChargePayload({ type: 'hash', hash: hash.toUpperCase().replace('0X', '0x') }),
    ).toEqual({
      type: 'hash',
      hash,
    })
    expect(parseChargePayload({ type: 'transaction', signature: '0x76aa' })).toEqual({
      type: 'transaction',
      transaction: '0x76aa',
    })
    expect(failure(() => parseChargePayload({ type: 'proof', signature: '0x00' }))).toBe(
      'verification-failed: A proof pays nothing: a priced charge takes a transaction or its hash.',
    )
    for (const bad of [
      null,
      [],
      'x',
      { type: 'hash', hash: '0x12' },
      { type: 'transaction' },
      {},
    ]) {
      expect(failure(() => parseChargePayload(bad))).toMatch(/^malformed-credential: /)
    }
  })

  it('answers any JSON value with a payload or a malformed/verification problem, never anything else', () => {
    const hex = fc
      .uint8Array({ maxLength: 40 })
      .map((bytes) => `0x${Buffer.from(bytes).toString('hex')}`)
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.record({
            type: fc.constantFrom('hash', 'transaction', 'proof', 'other'),
            hash: fc.oneof(fc.string(), hex),
            signature: fc.oneof(fc.string(), hex),
          }),
        ),
        (payload) => {
          try {
            const parsed = parseChargePayload(payload)
            expect(['hash', 'transaction']).toContain(parsed.type)
          } catch (error) {
            expect(error).toBeInstanceOf(GatewayError)
            expect(['malformed-credential', 'verification-failed']).toContain(
              (error as GatewayError).code,
            )
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('reads the payer from a did:pkh source on this chain only', () => {
    expect(sourcePayer(undefined, 1337)).toBeUndefined()
    expect(sourcePayer(`did:pkh:eip155:1337:${recipient}`, 1337)).toBe(recipient)
    for (const bad of [`did:pkh:eip155:4217:${recipient}`, 'did:pkh:eip155:1337:0x12', 'x']) {
      expect(failure(() => sourcePayer(bad, 1337))).toBe(
        'verification-failed: The credential source is not an account on this chain.',
      )
    }
  })
})
