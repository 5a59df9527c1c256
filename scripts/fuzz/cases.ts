/**
 * The requests `npm run fuzz` sends: credentials and request targets mutated from a real,
 * correctly signed credential that can never pay (its voucher equals what the channel has already
 * spent), drawn from a seeded generator so a run can be repeated exactly.
 *
 * Every case is one the gateway must refuse without forwarding it or changing the ledger: the
 * target always ends in a priced path (no mutation can reach the free route), and the one
 * mutation that would turn the replayed voucher into a legitimate request — `action: "close"`
 * with its signature intact, a cooperative close the payer's signature does authorize — is left
 * out (a close with any other mutation is in).
 */

/** One request: method, raw target, header list (flat, repeats allowed), optional body. */
export type FuzzCase = {
  readonly kind: string
  readonly method: string
  readonly path: string
  readonly headers: string[]
  readonly body?: string
}

/** A seeded generator (mulberry32): the same seed gives the same run. */
export type Random = {
  next(): number
  int(below: number): number
  pick<T>(items: readonly T[]): T
  chance(p: number): boolean
}

export function seeded(seed: number): Random {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (below: number) => Math.floor(next() * below)
  return {
    next,
    int,
    pick: (items) => items[int(items.length)]!,
    chance: (p) => next() < p,
  }
}

const base64url = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const oddCharacters = ['=', '+', '/', '.', ',', ' ', '"', '\\', '%', '~', '!', '*']

/** The material every case is made from: the replayed credential and its decoded form. */
export type Seed = {
  /** `Payment <token>`: correctly signed, never able to pay. */
  readonly replay: string
  /** The priced paths of the gateway (GET), and a priced POST path. */
  readonly paidGet: readonly ((id: string) => string)[]
  readonly paidPost: string
}

export function fuzzCase(random: Random, seed: Seed): FuzzCase {
  const roll = random.next()
  if (roll < 0.25) return credentialBytes(random, seed)
  if (roll < 0.5) return credentialJson(random, seed)
  if (roll < 0.62) return authorizationShape(random, seed)
  if (roll < 0.95) return target(random, seed)
  return { kind: 'replay', ...get(random, seed, randomId(random)), headers: auth(seed.replay) }
}

const token = (seed: Seed) => seed.replay.slice('Payment '.length)
const auth = (...values: string[]) => values.flatMap((value) => ['authorization', value])

function get(random: Random, seed: Seed, id: string): { method: string; path: string } {
  if (random.chance(0.1)) return { method: 'HEAD', path: random.pick(seed.paidGet)(id) }
  return { method: 'GET', path: random.pick(seed.paidGet)(id) }
}

function randomId(random: Random): string {
  return random.chance(0.5) ? `q${random.int(1e6)}` : random.pick(['x', '01HX', 'a-b_c', '42'])
}

/** The token with a few characters replaced, inserted, deleted, or cut short. */
function credentialBytes(random: Random, seed: Seed): FuzzCase {
  let text = token(seed)
  const edits = 1 + random.int(4)
  for (let i = 0; i < edits; i++) {
    const at = random.int(text.length)
    const character = random.chance(0.85) ? random.pick([...base64url]) : random.pick(oddCharacters)
    switch (random.int(4)) {
      case 0:
        text = text.slice(0, at) + character + text.slice(at + 1)
        break
      case 1:
        text = text.slice(0, at) + character + text.slice(at)
        break
      case 2:
        text = text.slice(0, at) + text.slice(at + 1)
        break
      default:
        text = text.slice(0, at)
    }
  }
  return { kind: 'credential-bytes', ...get(random, seed, 'x'), headers: auth(`Payment ${text}`) }
}

const fields = [
  ['challenge', 'id'],
  ['challenge', 'realm'],
  ['challenge', 'method'],
  ['challenge', 'intent'],
  ['challenge', 'request'],
  ['challenge', 'expires'],
  ['challenge', 'opaque'],
  ['challenge', 'digest'],
  ['challenge', 'description'],
  ['challenge'],
  ['payload', 'action'],
  ['payload', 'channelId'],
  ['payload', 'cumulativeAmount'],
  ['payload', 'signature'],
  ['payload', 'descriptor'],
  ['payload', 'descriptor', 'payer'],
  ['payload', 'descriptor', 'payee'],
  ['payload', 'descriptor', 'salt'],
  ['payload', 'descriptor', 'authorizedSigner'],
  ['payload', 'descriptor', 'expiringNonceHash'],
  ['payload', 'transaction'],
  ['payload', 'additionalDeposit'],
  ['payload'],
  ['source'],
] as const

function randomValue(random: Random): unknown {
  switch (random.int(10)) {
    case 0:
      return null
    case 1:
      return random.int(2 ** 31) * (random.chance(0.5) ? 1 : -1)
    case 2:
      return random.chance(0.5)
    case 3:
      return []
    case 4:
      return { a: 1 }
    case 5:
      return `0x${Array.from({ length: random.pick([20, 32, 65, 1]) }, () => random.int(256).toString(16).padStart(2, '0')).join('')}`
    case 6:
      return 'x'.repeat(random.pick([0, 1, 100, 20_000]))
    case 7:
      return String(random.int(1e9))
    case 8:
      return random.pick(['open', 'voucher', 'topUp', 'close', 'settle', '', 'VOUCHER'])
    default:
      return Array.from({ length: random.int(12) }, () => random.pick([...base64url])).join('')
  }
}

/** The decoded credential with one field deleted, replaced, re-cased or nudged. */
function credentialJson(random: Random, seed: Seed): FuzzCase {
  const decoded = JSON.parse(Buffer.from(token(seed), 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >
  const path = random.pick(fields)
  const parent = path
    .slice(0, -1)
    .reduce<Record<string, unknown>>((node, key) => node[key] as Record<string, unknown>, decoded)
  const key = path[path.length - 1]!
  const current = parent[key]
  let signatureKept = true
  switch (random.int(5)) {
    case 0:
      delete parent[key]
      break
    case 1:
      parent[key] =
        typeof current === 'string' && random.chance(0.5)
          ? random.chance(0.5)
            ? current.toUpperCase()
            : `${current} `
          : randomValue(random)
      break
    case 2:
      if (key === 'cumulativeAmount' && typeof current === 'string') {
        const amount = BigInt(current) + BigInt(random.pick([1, -1, 10_000, -10_000, 1e9]))
        parent[key] = random.chance(0.2) ? Number(amount) : String(amount)
      } else {
        parent[key] = randomValue(random)
      }
      break
    case 3:
      // An own property, so that even `__proto__` reaches the JSON text.
      Object.defineProperty(parent, random.pick(['extra', 'constructor', '__proto__']), {
        value: randomValue(random),
        enumerable: true,
      })
      break
    default:
      if (key === 'signature' && typeof current === 'string') {
        parent[key] = current.slice(0, -2) + random.pick(['1b', '1c', '00', '01', 'ff'])
        signatureKept = false
      } else {
        parent[key] = randomValue(random)
      }
  }
  const payload = decoded.payload as Record<string, unknown> | undefined
  // A close with the payer's own signature is a legitimate close: never send that one.
  if (signatureKept && payload?.action === 'close' && typeof payload.signature === 'string') {
    payload.signature = `${payload.signature.slice(0, 10)}00${payload.signature.slice(12)}`
  }
  const text = Buffer.from(JSON.stringify(decoded)).toString('base64url')
  return { kind: 'credential-json', ...get(random, seed, 'x'), headers: auth(`Payment ${text}`) }
}

/** The replayed credential in every shape an Authorization header can take. */
function authorizationShape(random: Random, seed: Seed): FuzzCase {
  const t = token(seed)
  const headers = random.pick<string[]>([
    auth(`Bearer tok, Payment ${t}`),
    auth(`Payment ${t}, Bearer tok`),
    auth(`Payment ${t}, Payment ${t}`),
    auth('Bearer tok', `Payment ${t}`),
    auth(`Payment ${t}`, `Payment ${t}`),
    auth(`payment ${t}`),
    auth(`PAYMENT  ${t}`),
    auth(`Payment ${t.slice(0, 20)} ${t.slice(20)}`),
    auth(`Payment`),
    auth(`Payment ${'A'.repeat(17_000)}`),
    auth(`Payment id="x", realm="y"`),
    auth(`Digest username="a", realm="b", Payment ${t}`),
    auth(`Basic ${Buffer.from('a:b').toString('base64')}`),
    ['Authorization', `Payment ${t}`, 'Payment-Session', 'x', 'X_Forwarded_For', '1.2.3.4'],
  ])
  if (random.chance(0.15)) {
    // A POST without a body is a management request (204, nothing charged); with one, content.
    const body = random.chance(0.5) ? { body: '{"sql":"x"}' } : {}
    return { kind: 'authorization-shape', method: 'POST', path: seed.paidPost, headers, ...body }
  }
  return { kind: 'authorization-shape', ...get(random, seed, 'x'), headers }
}

const pathPieces = [
  'x',
  'é',
  '%20',
  '%00',
  '%09',
  '%0a',
  '%0d%0a',
  '%7f',
  '%7F',
  '%E2%82%AC',
  '%C3%A9',
  '%C3',
  '%C0%AF',
  '%ED%A0%80',
  '%F4%90%80%80',
  '%zz',
  '%',
  '%2',
  '%2e',
  '%2E%2e',
  '%2f',
  '%2F',
  '%5c',
  '%25',
  '%252e',
  '%3f',
  '%23',
  '..',
  '.',
  '..;',
  '.;x',
  ';',
  '/',
  '//',
  '#',
  '#frag',
  '?',
  '?a=b',
  '&',
  '@',
  ':',
  '*',
  '~',
  '|',
  '{}',
  '"',
  '<>',
  '^',
  '`',
]

/** A priced path whose id segment (and sometimes its prefix) is built from odd pieces. */
function target(random: Random, seed: Seed): FuzzCase {
  const id = Array.from({ length: 1 + random.int(4) }, () => random.pick(pathPieces)).join('')
  let { method, path } = get(random, seed, id)
  switch (random.int(8)) {
    case 0:
      path = `http://evil.example${path}`
      break
    case 1:
      path = `/v1/execution/..${path.slice('/v1/execution'.length)}`
      break
    case 2:
      path = `${path}#${random.pick(pathPieces)}`
      break
    case 3:
      path = random.pick([
        '/__gateway/%68ealthz',
        '/__gateway/%72eadyz',
        '/%5f_gateway/healthz',
        '/__gateway//healthz',
        '/__gateway/healthz',
      ])
      method = 'GET'
      break
    default:
  }
  const credential = random.pick([[], auth(seed.replay), auth('Bearer tok'), auth('Payment !!!')])
  return { kind: 'target', method, path, headers: credential }
}
