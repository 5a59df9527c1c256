/**
 * Never a 500 for a client mistake, whatever the credential holds: random session payloads
 * (every action, plausible and garbage fields, the real channel's id and descriptor or mutations
 * of them, random signatures and transactions) under a valid challenge are sent to a running
 * gateway. Each must get a 4xx problem with a catalogued code, never reach the upstream, and
 * leave the real channel's ledger record as it was.
 */
import fc from 'fast-check'
import { tempo } from 'mppx/client'
import { holdsConfirmed } from '../support/wait.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorCatalogue } from '../../src/errors.js'
import type { Gateway } from '../../src/gateway.js'
import type { ChannelRecord } from '../../src/ledger/port.js'
import { parsePaymentChallenges } from '../../src/protocol/auth-params.js'
import { encodeBase64url } from '../../src/protocol/base64url.js'
import type { DevnetClient, DevnetKey } from '../devnet/devnet.js'
import type { ExampleUpstream } from '../support/example-upstream.js'
import { startDevnetGateway, type DevnetGateway } from '../support/devnet-gateway.js'

const paidPath = '/v1/execution/x/results'
const maxUint96 = (1n << 96n) - 1n

const hexOf = (bytes: Uint8Array) => `0x${Buffer.from(bytes).toString('hex')}`

describe('random credentials never cause a 500 or a change', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let gateway: Gateway
  let channelId: string
  let descriptor: Record<string, string>
  let before: ChannelRecord
  let setup: DevnetGateway

  beforeAll(async () => {
    setup = await startDevnetGateway()
    ;({ devnet, upstream, gateway } = setup)
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '1',
    })
    expect((await session.fetch(`${gateway.url}${paidPath}`)).status).toBe(200)
    channelId = session.channelId!
    await holdsConfirmed(gateway.deps.ledger, channelId as `0x${string}`)
    before = (await gateway.deps.ledger.get(channelId as `0x${string}`))!
    descriptor = { ...before.descriptor }
  })

  afterAll(() => setup.stop())

  const validAmount = fc.oneof(
    fc.bigInt({ min: 0n, max: 1_000_000n }).map(String),
    fc.bigInt({ min: 0n, max: maxUint96 }).map(String),
  )
  const amount = fc.oneof(
    { arbitrary: validAmount, weight: 4 },
    fc.constantFrom('-1', '1.5', '1e6', '0x10', '', ' 1', String(maxUint96 + 1n), '0001'),
    fc.integer(),
  )
  const hex32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hexOf)
  const signature65 = fc
    .tuple(fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.constantFrom(0, 1, 27, 28, 29))
    .map(([rs, v]) => hexOf(Uint8Array.from([...rs, v])))
  const signature = fc.oneof(
    { arbitrary: signature65, weight: 4 },
    fc.constantFrom(`0x${'00'.repeat(65)}`, `0x${'ff'.repeat(65)}`, `0x${'ff'.repeat(64)}1b`),
    fc.uint8Array({ maxLength: 200 }).map(hexOf),
    fc.string(),
  )
  const transaction = fc.oneof(
    {
      arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => `0x76${hexOf(b).slice(2)}`),
      weight: 4,
    },
    fc.uint8Array({ maxLength: 300 }).map(hexOf),
    fc.string(),
  )
  const address = fc.uint8Array({ minLength: 20, maxLength: 20 }).map(hexOf)
  const knownDescriptor = fc.constant(null).map(() => descriptor)
  const descriptorArb = fc.oneof(
    { arbitrary: knownDescriptor, weight: 3 },
    {
      arbitrary: fc
        .tuple(
          fc.constantFrom(
            'payer',
            'payee',
            'operator',
            'token',
            'salt',
            'authorizedSigner',
            'expiringNonceHash',
          ),
          fc.oneof(address, hex32, fc.string()),
        )
        .map(([name, value]) => ({ ...descriptor, [name]: value })),
      weight: 2,
    },
    fc.dictionary(fc.string(), fc.jsonValue()),
    fc.jsonValue(),
  )
  const knownChannel = fc.constant(null).map(() => channelId)
  /** Shaped like a real payload of each action, with random values where they matter. */
  const plausible = fc.record({
    action: fc.constantFrom('open', 'voucher', 'topUp', 'close'),
    type: fc.constant('transaction'),
    channelId: fc.oneof({ arbitrary: knownChannel, weight: 3 }, hex32),
    descriptor: descriptorArb,
    cumulativeAmount: validAmount,
    additionalDeposit: validAmount,
    signature: signature65,
    transaction,
  })
  /** Anything goes, field by field. */
  const garbage = fc.record(
    {
      action: fc.constantFrom('open', 'voucher', 'topUp', 'close', 'settle', ''),
      type: fc.constantFrom('transaction', 'hash', 'other'),
      channelId: fc.oneof(knownChannel, hex32, fc.string()),
      descriptor: descriptorArb,
      cumulativeAmount: amount,
      additionalDeposit: amount,
      signature,
      transaction,
    },
    { requiredKeys: ['action'] },
  )
  const payload = fc.oneof({ arbitrary: plausible, weight: 3 }, garbage)
  const request = fc.record({
    payload,
    management: fc.boolean(),
    source: fc.option(fc.string(), { nil: undefined, freq: 6 }),
  })

  it('answers every one with a catalogued 4xx problem, no upstream call, no ledger change', async () => {
    const first = await fetch(`${gateway.url}${paidPath}`)
    const [challenge] = parsePaymentChallenges(first.headers.get('www-authenticate')!)
    const seenBefore = upstream.seen.length
    const codes = new Map<string, number>()

    await fc.assert(
      fc.asyncProperty(request, async ({ payload, management, source }) => {
        const credential = encodeBase64url(
          JSON.stringify({ challenge, payload, ...(source === undefined ? {} : { source }) }),
        )
        const response = await fetch(`${gateway.url}${paidPath}`, {
          method: management ? 'POST' : 'GET',
          headers: { authorization: `Payment ${credential}` },
        })
        const problem = (await response.json()) as { code: string; status: number }
        codes.set(problem.code, (codes.get(problem.code) ?? 0) + 1)
        expect(response.status).toBeGreaterThanOrEqual(400)
        expect(response.status).toBeLessThan(500)
        expect(response.headers.get('content-type')).toBe('application/problem+json')
        expect(Object.keys(errorCatalogue)).toContain(problem.code)
        expect(problem.status).toBe(response.status)
      }),
      { numRuns: 300, seed: 20261121 },
    )

    expect(upstream.seen.length).toBe(seenBefore)
    const after = await gateway.deps.ledger.get(channelId as `0x${string}`)
    expect({ ...after, updatedAt: 0 }).toEqual({ ...before, updatedAt: 0 })
    // The runs reached past the shape check: signatures and descriptors were judged too.
    expect([...codes.keys()]).toEqual(
      expect.arrayContaining(['malformed-credential', 'verification-failed', 'invalid-signature']),
    )
  })
})
