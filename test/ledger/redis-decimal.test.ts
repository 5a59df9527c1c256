/**
 * The Lua decimal arithmetic of the ledger scripts (src/ledger/redis/lua-decimal.ts), run inside a
 * real Redis and checked against JavaScript's BigInt with fast-check: amounts up to and beyond
 * 2^96 must compare, add and subtract exactly, where a Lua double would not.
 */
import fc from 'fast-check'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { luaDecimal } from '../../src/ledger/redis/lua-decimal.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'

/** Evaluates every function on ARGV[1], ARGV[2]: {cmp, a+b, a-b or '', max}. */
const probe = `#!lua flags=no-writes
${luaDecimal}
local a, b = ARGV[1], ARGV[2]
local diff = ''
if dcmp(a, b) >= 0 then diff = dsub(a, b) end
return { tostring(dcmp(a, b)), dadd(a, b), diff, dmax(a, b) }
`

const expected = (a: bigint, b: bigint) => [
  String(a < b ? -1 : a > b ? 1 : 0),
  String(a + b),
  a >= b ? String(a - b) : '',
  String(a > b ? a : b),
]

const two96 = 2n ** 96n
const two128 = 2n ** 128n

/** Amounts that stress the arithmetic: small, around limb and chunk edges, around 2^96 and 2^128. */
const amount = fc.oneof(
  fc.bigInt({ min: 0n, max: 1_000n }),
  fc.bigInt({ min: 0n, max: two96 + 1_000_000n }),
  fc.bigInt({ min: two96 - 10_000_000n, max: two96 + 10_000_000n }),
  fc.bigInt({ min: 0n, max: two128 }),
  fc.constantFrom(
    0n,
    1n,
    9_999_999n,
    10_000_000n,
    99_999_999_999_999n,
    100_000_000_000_000n,
    2n ** 53n - 1n,
    2n ** 53n,
    2n ** 53n + 1n,
    two96 - 1n,
    two96,
    99_999_999_999_999_999n,
    12_345_678_901_234_567n,
    two128 - 1n,
  ),
)

/** Numbers whose digits are mostly 0 and 9: every carry, borrow and limb edge gets exercised. */
const edgy = fc
  .array(fc.constantFrom('0', '9', '9', '0', '1', '5'), { minLength: 1, maxLength: 40 })
  .map((digits) => BigInt(digits.join('')))

/** A number of 1 to 40 digits, every length equally likely (doubles fail from 16 digits on). */
const wide = fc.integer({ min: 1, max: 40 }).chain((digits) =>
  fc.bigInt({
    min: digits === 1 ? 0n : 10n ** BigInt(digits - 1),
    max: 10n ** BigInt(digits) - 1n,
  }),
)

/** Pairs built to meet edges: equal, one apart, complements to a power of ten, random. */
const pair = fc.oneof(
  fc.tuple(amount, amount),
  fc.tuple(edgy, edgy),
  edgy.map((a) => [a, a] as const),
  fc.tuple(fc.oneof(edgy, amount, wide), fc.bigInt({ min: -3n, max: 3n })).map(([a, d]) => {
    const b = a + d < 0n ? 0n : a + d
    return [a, b] as const
  }),
  fc.tuple(fc.oneof(edgy, amount), fc.nat({ max: 3 })).map(([a, extra]) => {
    const complement = 10n ** BigInt(a.toString().length + extra) - a
    return [a, complement] as const
  }),
)

describe('Lua decimal arithmetic against BigInt', () => {
  let server: RedisServer
  let client: Redis

  beforeAll(async () => {
    server = await startRedisServer()
    client = new Redis(server.url, { lazyConnect: true })
    await client.connect()
  })
  afterAll(async () => {
    await client.quit()
    await server.stop()
  })

  const run = async (pairs: readonly (readonly [bigint, bigint])[]) => {
    const pipeline = client.pipeline()
    for (const [a, b] of pairs) pipeline.eval(probe, 0, a.toString(), b.toString())
    const results = (await pipeline.exec()) ?? []
    return results.map(([error, value]) => {
      if (error) throw error
      return value
    })
  }

  it('compares, adds, subtracts and takes the max exactly (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(pair, { minLength: 1, maxLength: 50 }), async (pairs) => {
        const got = await run(pairs)
        expect(got).toEqual(pairs.map(([a, b]) => expected(a, b)))
      }),
      { numRuns: 100 },
    )
  })

  it('is exact where doubles are not', async () => {
    const a = two96 + 1n
    const [row] = await run([[a, 1n]])
    // As doubles 2^96 + 1 and 2^96 are equal; the decimal strings keep the last unit.
    expect(row).toEqual([String(1), String(a + 1n), String(two96), String(a)])
    expect(await run([[two96, two96 + 1n]])).toEqual([expected(two96, two96 + 1n)])
  })

  it('refuses to go below zero instead of wrapping', async () => {
    const refuse = `#!lua flags=no-writes
${luaDecimal}
return dsub(ARGV[1], ARGV[2])`
    await expect(client.eval(refuse, 0, '5', '6')).rejects.toThrow(/negative amount/)
  })
})
