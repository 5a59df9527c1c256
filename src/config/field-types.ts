/**
 * The scalar vocabulary of gateway.yaml: addresses, keys, secrets, URLs, amounts and bounded
 * integers, each a zod schema with the operator-facing wording of its own problems.
 *
 * Invariants: no message here ever repeats the value it rejects (values may be secrets expanded
 * from the environment); addresses come out checksummed; amounts come out as exact decimals, never
 * floats (they become base units once the currency's decimals are known, see schema.ts); integer
 * checks never abort the parse, so cross-field checks still run and every problem is reported.
 */
import { isIP } from 'node:net'
import { getAddress, isAddress, type Address, type Hex } from 'viem'
import { z } from 'zod'
import { parseDecimal, type ExactDecimal } from './decimal-amount.js'

/** Every TIP-20 token address starts with these 12 bytes; such addresses cannot receive TIP-20s. */
export const tip20Prefix = '0x20c000000000000000000000'

const secp256k1Order = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const utf8 = new TextEncoder()

/**
 * A whole number in `[min, max]`. Written as a refinement rather than zod's `.int()` because a
 * failing `.int()` aborts the parse, which would hide the cross-field problems from the report.
 */
export function integer(options: { min: number; max: number; description: string }) {
  return z
    .number()
    .refine((value) => Number.isInteger(value), 'must be a whole number')
    .min(options.min)
    .max(options.max)
    .meta({ type: 'integer', description: options.description })
}

/** An IP address, or a network in CIDR notation (`10.0.0.0/8`, `fd00::/8`). */
export function ipOrCidr(description: string) {
  return z
    .string()
    .refine((value) => {
      const [address = '', prefix, ...rest] = value.split('/')
      const family = isIP(address)
      if (family === 0 || rest.length > 0) return false
      if (prefix === undefined) return true
      const bits = Number(prefix)
      return /^\d{1,3}$/.test(prefix) && bits <= (family === 4 ? 32 : 128)
    }, 'must be an IP address or a network such as 10.0.0.0/8')
    .meta({ description })
}

/** Non-empty text. */
export function text(description: string) {
  return z.string().min(1, 'must not be empty').meta({ description })
}

/** A shared secret of at least 32 bytes (UTF-8), e.g. an HMAC key. */
export function secret(description: string) {
  return z
    .string()
    .refine(
      (value) => utf8.encode(value).length >= 32,
      'must be at least 32 bytes long; generate one with `openssl rand -hex 32`',
    )
    .meta({ description })
}

/** A secp256k1 private key written as 0x followed by 64 hex digits. */
export function privateKey(description: string) {
  return z
    .string()
    .superRefine((value, ctx) => {
      if (!/^0x[0-9a-fA-F]{64}$/.test(value)) {
        ctx.addIssue({
          code: 'custom',
          message: 'must be a private key: 0x followed by 64 hex digits',
        })
      } else if (BigInt(value) === 0n || BigInt(value) >= secp256k1Order) {
        ctx.addIssue({ code: 'custom', message: 'is not a valid secp256k1 private key' })
      }
    })
    .transform((value): Hex => value.toLowerCase() as Hex)
    .meta({ description })
}

/** How an address relates to TIP-20 token addresses. */
export type Tip20Rule = 'token' | 'not-token' | 'any'

/** A 20-byte address (any letter case accepted), normalised to its checksummed form. */
export function address(options: { description: string; tip20: Tip20Rule }) {
  return z
    .string()
    .meta({ description: options.description, pattern: '^0x[0-9a-fA-F]{40}$' })
    .superRefine((value, ctx) => {
      if (!isAddress(value, { strict: false })) {
        ctx.addIssue({
          code: 'custom',
          message: 'must be an address: 0x followed by 40 hex digits',
        })
        return
      }
      const isToken = value.toLowerCase().startsWith(tip20Prefix)
      if (options.tip20 === 'token' && !isToken) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a TIP-20 token address (they start with ${tip20Prefix})`,
        })
      }
      if (options.tip20 === 'not-token' && isToken) {
        ctx.addIssue({
          code: 'custom',
          message: 'is a TIP-20 token address, which cannot receive TIP-20 payments',
        })
      }
    })
    .transform((value): Address => getAddress(value))
}

/** Parses a URL, or `undefined` when it is not one. */
function tryUrl(value: string): URL | undefined {
  return URL.canParse(value) ? new URL(value) : undefined
}

/** An http(s) URL, e.g. a JSON-RPC endpoint (credentials and query allowed: some providers need them). */
export function httpUrl(description: string) {
  return z
    .string()
    .refine((value) => {
      const url = tryUrl(value)
      return url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:')
    }, 'must be an http:// or https:// URL')
    .meta({ description, format: 'uri' })
}

/**
 * An upstream base URL: http(s), no credentials (put them in `headers`), no query or fragment
 * (the incoming path and query are appended). Held without a trailing "/".
 */
export function baseUrl(description: string) {
  return z
    .string()
    .superRefine((value, ctx) => {
      const url = tryUrl(value)
      const problem =
        url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')
          ? 'must be an http:// or https:// URL'
          : url.username !== '' || url.password !== ''
            ? 'must not contain credentials; send them with `headers` instead'
            : url.search !== '' || url.hash !== '' || value.includes('?') || value.includes('#')
              ? 'must not have a query or fragment: the incoming path and query are appended to it'
              : undefined
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
    })
    .transform((value) => value.replace(/\/+$/, ''))
    .meta({ description, format: 'uri' })
}

/** A redis:// or rediss:// URL (may carry credentials, so it is treated as a secret). */
export function redisUrl(description: string) {
  return z
    .string()
    .refine((value) => {
      const url = tryUrl(value)
      return url !== undefined && (url.protocol === 'redis:' || url.protocol === 'rediss:')
    }, 'must be a redis:// or rediss:// URL')
    .meta({ description })
}

/**
 * Error wording for amounts written as YAML numbers. Why refuse them instead of converting: the
 * YAML parser has already turned them into binary floats, so the exact amount the operator meant
 * is no longer known.
 */
function quoteAmounts(issue: { code: string; input?: unknown }): string | undefined {
  if (issue.code !== 'invalid_type' || typeof issue.input !== 'number') return undefined
  const written = String(issue.input)
  const example = /^[0-9.]+$/.test(written) ? `"${written}"` : '"0.05"'
  return `write amounts as quoted strings, e.g. ${example}: unquoted YAML numbers are floats and lose money`
}

const decimalPattern = '^(0|[1-9][0-9]*)(\\.[0-9]+)?$'

/** A non-negative amount in currency units, written as a decimal string. */
export function decimalAmount(description: string) {
  return z
    .string({ error: quoteAmounts })
    .meta({ description, pattern: decimalPattern })
    .transform((value, ctx): ExactDecimal => {
      const parsed = parseDecimal(value)
      if (parsed.ok) return parsed.value
      ctx.addIssue({ code: 'custom', message: parsed.problem })
      return z.NEVER
    })
}

/** A route's price as written: free, or a positive exact decimal in currency units. */
export type WrittenPrice =
  { readonly kind: 'free' } | { readonly kind: 'paid'; readonly decimal: ExactDecimal }

/** A route price: the literal `free`, or a decimal string greater than zero. */
export function price(description: string) {
  return z
    .string({ error: quoteAmounts })
    .meta({ description, pattern: `^free$|${decimalPattern}` })
    .transform((value, ctx): WrittenPrice => {
      if (value === 'free') return { kind: 'free' }
      const parsed = parseDecimal(value)
      if (!parsed.ok) {
        ctx.addIssue({ code: 'custom', message: `${parsed.problem} (or write "free")` })
        return z.NEVER
      }
      if (parsed.value.digits === 0n) {
        ctx.addIssue({ code: 'custom', message: 'must be greater than 0; write "free" instead' })
        return z.NEVER
      }
      return { kind: 'paid', decimal: parsed.value }
    })
}
