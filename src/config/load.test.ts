import { fileURLToPath } from 'node:url'
import { privateKeyToAddress } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { ConfigError, type ConfigIssue } from './errors.js'
import { loadConfig, parseConfig } from './load.js'

const payeeKey = `0x${'11'.repeat(32)}` as const
const payeeAddress = privateKeyToAddress(payeeKey)
const otherKey = `0x${'22'.repeat(32)}` as const
const challengeSecret = 'challenge-secret-0123456789-abcdefghij'
const duneKey = 'dune-api-key-do-not-print'
const replicaDefaults = { minReplicas: 0, minReplicasTimeoutMs: 500 } as const

/** Everything the ready-made files reference. */
const testEnv = {
  MPP_CHALLENGE_SECRET: challengeSecret,
  PAYEE_ADDRESS: payeeAddress,
  PAYEE_PRIVATE_KEY: payeeKey,
  DUNE_API_KEY: duneKey,
  DEVNET_RPC_URL: 'http://127.0.0.1:8546',
  DEVNET_CHAIN_ID: '31337',
  DEVNET_PAYEE_ADDRESS: payeeAddress,
  DEVNET_PAYEE_KEY: payeeKey,
  UPSTREAM_URL: 'http://127.0.0.1:9000/',
  REDIS_URL: 'redis://:redis-password@127.0.0.1:6379',
}

const rootFile = fileURLToPath(new URL('../../gateway.yaml', import.meta.url))
const devnetFile = fileURLToPath(new URL('../../config/devnet.yaml', import.meta.url))

type Section = Record<string, unknown>

/** A configuration as plain data, open to any (also invalid) change. */
type Draft = {
  server: Section
  chain: Section
  payee: Section
  currency: Section
  session?: Section
  ledger?: Section
  upstreams: { dune: Section & { headers: Section } } & Record<string, Section>
  routes: Section[]
  [key: string]: unknown
}

/** A small valid configuration, as plain data; tests change one thing at a time. */
function base(): Draft {
  return {
    server: { realm: 'api.example.com', challengeSecret: '${MPP_CHALLENGE_SECRET}' },
    chain: { network: 'moderato' },
    payee: { address: payeeAddress, signerKey: '${PAYEE_PRIVATE_KEY}' },
    currency: { token: '0x20c0000000000000000000000000000000000000' },
    upstreams: {
      dune: {
        baseUrl: 'https://api.dune.com/api',
        headers: { 'X-Dune-Api-Key': '${DUNE_API_KEY}' },
      },
    },
    routes: [{ method: 'POST', path: '/v1/sql/execute', upstream: 'dune', price: '0.05' }],
  }
}

function parse(data: unknown, env: Record<string, string | undefined> = testEnv) {
  return parseConfig({ text: typeof data === 'string' ? data : stringify(data), env })
}

function issuesOf(data: unknown, env: Record<string, string | undefined> = testEnv): ConfigIssue[] {
  try {
    parse(data, env)
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues]
    throw error
  }
  throw new Error('expected a ConfigError')
}

/** The issues as `path: message` lines, which is what an operator reads. */
function problems(data: unknown, env?: Record<string, string | undefined>): string[] {
  return issuesOf(data, env).map((issue) => `${issue.path}: ${issue.message}`)
}

function change(edit: (config: Draft) => void): Draft {
  const config = base()
  edit(config)
  return config
}

describe('the ready-made configuration files', () => {
  it('gateway.yaml parses: Dune behind the gateway on Tempo mainnet', () => {
    const config = loadConfig({ path: rootFile, env: testEnv })
    expect(config.chain).toEqual({
      network: 'tempo',
      rpcUrl: 'https://rpc.tempo.xyz',
      chainId: 4217,
      escrow: '0x4d50500000000000000000000000000000000000',
      stateTtlMs: 5000,
      readTimeoutMs: 2000,
      readFailureTtlMs: 10000,
    })
    expect(config.upstreams.dune?.baseUrl).toBe('https://api.dune.com/api')
    expect(config.upstreams.dune?.headers).toEqual({ 'X-Dune-Api-Key': duneKey })
    expect(config.routes.map((route) => [route.method, route.path, route.price.amount])).toEqual([
      ['POST', '/v1/sql/execute', 50_000n],
      ['GET', '/v1/execution/:id/status', 0n],
      ['GET', '/v1/execution/:id/results', 10_000n],
      ['GET', '/v1/execution/:id/results/csv', 10_000n],
      ['GET', '/v1/execution/:execution_id/csv', 10_000n],
      ['GET', '/v1/query/:query_id/results', 50_000n],
    ])
    expect(config.routes[5]?.metered).toEqual({
      base: 1_000n,
      perUnit: 100n,
      units: { kind: 'json', path: ['result', 'metadata', 'row_count'] },
      bufferBytes: 4_194_304,
    })
    expect(config.routes[4]?.upstreamPath).toBe('/v1/execution/:execution_id/results/csv')
    expect(config.routes[1]?.price.kind).toBe('free')
    expect(config.ledger).toEqual({
      type: 'redis',
      redis: {
        url: testEnv.REDIS_URL,
        keyPrefix: 'mppgw:',
        requireDurable: true,
        ...replicaDefaults,
      },
    })
    expect(config.payee).toEqual({
      address: payeeAddress,
      signerKey: payeeKey,
      signerAddress: payeeAddress,
    })
    expect(config.server.challengeSecret).toBe(challengeSecret)
  })

  it('config/devnet.yaml parses, with the chain id coerced from its environment variable', () => {
    const config = loadConfig({ path: devnetFile, env: testEnv })
    expect(config.chain).toMatchObject({
      network: 'devnet',
      rpcUrl: 'http://127.0.0.1:8546',
      chainId: 31337,
    })
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8080 })
    expect(config.currency).toEqual({
      token: '0x20C0000000000000000000000000000000000000',
      decimals: 6,
      feeToken: '0x20C0000000000000000000000000000000000001',
    })
    expect(config.session.suggestedDeposit).toEqual({ amount: 100_000n, text: '0.1' })
    expect(config.upstreams.example?.baseUrl).toBe('http://127.0.0.1:9000')
    expect(config.routes.map((route) => route.price.text)).toEqual([
      '0.01',
      'free',
      '0.01',
      '0.01',
      '0.01',
    ])
    expect(config.routes.map((route) => route.upstreamPath)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      '/v1/execution/:execution_id/results/csv',
    ])
    expect(config.ledger).toEqual({ type: 'memory' })
  })

  it('both files list every variable they need: an empty environment names them all', () => {
    const root = catchIssues(() => loadConfig({ path: rootFile, env: {} }))
    expect(root.map((issue) => issue.path)).toEqual([
      'server.challengeSecret',
      'payee.address',
      'payee.signerKey',
      'ledger.redis.url',
      'upstreams.dune.headers.X-Dune-Api-Key',
    ])
  })
})

describe('defaults and normalisation', () => {
  it('fills every default', () => {
    const config = parse(base())
    expect(config.server).toEqual({
      host: '0.0.0.0',
      port: 8080,
      realm: 'api.example.com',
      challengeSecret,
      previousChallengeSecrets: [],
      challengeTtlSeconds: 300,
      reservedPrefix: '/__gateway',
      maxHeaderBytes: 16384,
      shutdownGraceSeconds: 10,
      headersTimeoutMs: 10000,
      requestBodyTimeoutMs: 30000,
      bufferedBodyBytes: 65536,
      trustedProxies: [],
      shadow: false,
    })
    expect(config.chain).toMatchObject({ chainId: 42431, rpcUrl: 'https://rpc.moderato.tempo.xyz' })
    expect(config.currency.feeToken).toBe(config.currency.token)
    expect(config.session).toEqual({
      suggestedDeposit: { amount: 1_000_000n, text: '1' },
      minVoucherDelta: { amount: 0n, text: '0' },
      minDeposit: { amount: 0n, text: '0' },
      reservationTtlSeconds: 60,
    })
    expect(config.upstreams.dune).toMatchObject({
      connectTimeoutMs: 5000,
      headersTimeoutMs: 30000,
      bodyTimeoutMs: 300000,
      responseTimeoutMs: 600000,
      queueTimeoutMs: 5000,
      maxRequestBodyBytes: 1048576,
      connections: 64,
      clientAuthorization: 'payment',
    })
    expect(config.discovery).toEqual({ openapi: '/openapi.json', llms: '/llms.txt' })
    expect(config.tempoCharge).toEqual({ enabled: false, modes: ['pull', 'push'] })
    expect(config.routes[0]).toEqual({
      method: 'POST',
      path: '/v1/sql/execute',
      upstream: 'dune',
      price: { kind: 'paid', amount: 50_000n, text: '0.05' },
      unitType: 'request',
      charge: 'on-success',
      servedStatuses: ['2xx'],
      intents: ['session'],
    })
  })

  it('offers every configured intent on a priced route unless the route names its own', () => {
    const draft = base()
    draft.tempoCharge = { enabled: true, modes: ['pull'] }
    draft.routes.push({
      method: 'GET',
      path: '/one-shot',
      upstream: 'dune',
      price: '0.01',
      intents: ['charge'],
    })
    const config = parse(draft)
    expect(config.tempoCharge).toEqual({ enabled: true, modes: ['pull'] })
    expect(config.routes.map((r) => r.intents)).toEqual([['session', 'charge'], ['charge']])
  })

  it('reads upstream paths, shadow mode and CORS with their defaults', () => {
    const draft = base()
    draft.server.shadow = true
    draft.server.cors = { allowedOrigins: ['https://app.example.com', 'http://localhost:5173'] }
    draft.routes.push({
      method: 'GET',
      path: '/v1/execution/:execution_id/csv',
      upstreamPath: '/v1/execution/:execution_id/results/csv',
      upstream: 'dune',
      price: '0.01',
      shadow: false,
    })
    const config = parse(draft)
    expect(config.server.shadow).toBe(true)
    expect(config.server.cors).toEqual({
      allowedOrigins: ['https://app.example.com', 'http://localhost:5173'],
      allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
      exposeHeaders: [],
      maxAgeSeconds: 600,
    })
    expect(config.routes[1]).toMatchObject({
      upstreamPath: '/v1/execution/:execution_id/results/csv',
      shadow: false,
    })
    expect(config.routes[0]?.shadow).toBeUndefined()
  })

  it('checksums addresses, accepts them unquoted, and strips a trailing "/" from base URLs', () => {
    const text = stringify(base())
      .replace(payeeAddress, payeeAddress.toLowerCase())
      .replace(
        '"0x20c0000000000000000000000000000000000000"',
        '0x20c0000000000000000000000000000000000000',
      )
      .replace('https://api.dune.com/api', 'https://api.dune.com/api/')
    expect(text).toContain('token: 0x20c0')
    const config = parse(text)
    expect(config.payee.address).toBe(payeeAddress)
    expect(config.currency.token).toBe('0x20C0000000000000000000000000000000000000')
    expect(config.upstreams.dune?.baseUrl).toBe('https://api.dune.com/api')
  })

  it('accepts served statuses as one entry or a list', () => {
    const config = parse(
      change((c) => {
        c.routes.push({
          method: 'GET',
          path: '/a',
          upstream: 'dune',
          price: 'free',
          servedStatuses: ['2xx', 304],
        })
        c.routes.push({
          method: 'GET',
          path: '/b',
          upstream: 'dune',
          price: '1',
          servedStatuses: 304,
          charge: 'always',
        })
      }),
    )
    expect(config.routes.map((route) => route.servedStatuses)).toEqual([
      ['2xx'],
      ['2xx', 304],
      [304],
    ])
    expect(config.routes[2]?.charge).toBe('always')
  })

  it('builds a redis ledger with its defaults', () => {
    const config = parse(
      change((c) => (c.ledger = { type: 'redis', redis: { url: 'rediss://:pw@redis:6380/0' } })),
    )
    expect(config.ledger).toEqual({
      type: 'redis',
      redis: {
        url: 'rediss://:pw@redis:6380/0',
        keyPrefix: 'mppgw:',
        requireDurable: false,
        ...replicaDefaults,
      },
    })
  })

  it('builds a redis ledger on a cluster with replicas acknowledging every voucher', () => {
    const config = parse(
      change(
        (c) =>
          (c.ledger = {
            type: 'redis',
            redis: {
              cluster: { nodes: ['redis://:pw@10.0.0.1:7000', 'redis://10.0.0.2:7000'] },
              minReplicas: 1,
            },
          }),
      ),
    )
    expect(config.ledger).toEqual({
      type: 'redis',
      redis: {
        cluster: { nodes: ['redis://:pw@10.0.0.1:7000', 'redis://10.0.0.2:7000'] },
        keyPrefix: 'mppgw:',
        requireDurable: false,
        minReplicas: 1,
        minReplicasTimeoutMs: 500,
      },
    })
  })

  it('accepts a signer key that belongs to the operator', () => {
    const operator = privateKeyToAddress(otherKey)
    const config = parse(
      change(
        (c) =>
          (c.payee = {
            address: payeeAddress,
            signerKey: otherKey,
            operator: operator.toLowerCase(),
          }),
      ),
    )
    expect(config.payee).toEqual({
      address: payeeAddress,
      signerKey: otherKey,
      operator,
      signerAddress: operator,
    })
  })
})

describe('money', () => {
  const priced = (price: unknown) => change((c) => (c.routes[0]!.price = price))

  it('reads "0.000001" with 6 decimals as 1 base unit', () => {
    expect(parse(priced('0.000001')).routes[0]?.price).toEqual({
      kind: 'paid',
      amount: 1n,
      text: '0.000001',
    })
  })

  it('refuses "0.0000001" with 6 decimals', () => {
    expect(problems(priced('0.0000001'))).toEqual([
      'routes[0].price: has 7 fraction digits but the currency has 6 decimals (the smallest amount is "0.000001")',
    ])
  })

  it('uses currency.decimals', () => {
    const config = parse(change((c) => ((c.currency.decimals = 2), (c.routes[0]!.price = '1.25'))))
    expect(config.routes[0]?.price.amount).toBe(125n)
    expect(
      problems(change((c) => ((c.currency.decimals = 2), (c.routes[0]!.price = '0.001')))),
    ).toEqual([
      'routes[0].price: has 3 fraction digits but the currency has 2 decimals (the smallest amount is "0.01")',
    ])
  })

  it.each([
    ['price: 0.05', '"0.05"'],
    ['price: 5', '"5"'],
    ['price: 1e-7', '"0.05"'],
  ])('refuses an unquoted number (%s) and says to quote it', (line, example) => {
    const text = stringify(base()).replace('price: "0.05"', line)
    expect(text).toContain(line)
    expect(problems(text)).toEqual([
      `routes[0].price: write amounts as quoted strings, e.g. ${example}: unquoted YAML numbers are floats and lose money`,
    ])
  })

  it('refuses an unquoted session amount too', () => {
    const text = stringify(change((c) => (c.session = { suggestedDeposit: 'X' }))).replace(
      'suggestedDeposit: X',
      'suggestedDeposit: 1.5',
    )
    expect(problems(text)).toEqual([
      'session.suggestedDeposit: write amounts as quoted strings, e.g. "1.5": unquoted YAML numbers are floats and lose money',
    ])
  })

  it.each([
    ['-0.05', 'must not be negative'],
    ['1e-6', 'must not use exponent notation'],
    ['0', 'must be greater than 0; write "free" instead'],
    ['0.000', 'must be greater than 0; write "free" instead'],
    ['Free', 'must be a plain decimal'],
    ['', 'is empty'],
  ])('refuses price %j', (price, problem) => {
    const [issue, ...rest] = issuesOf(priced(price))
    expect(rest).toEqual([])
    expect(issue?.path).toBe('routes[0].price')
    expect(issue?.message).toContain(problem)
  })

  it('refuses a zero deposit and a too-fine voucher delta', () => {
    expect(
      problems(
        change((c) => (c.session = { suggestedDeposit: '0', minVoucherDelta: '0.0000001' })),
      ),
    ).toEqual([
      'session.suggestedDeposit: must be greater than 0',
      'session.minVoucherDelta: has 7 fraction digits but the currency has 6 decimals (the smallest amount is "0.000001")',
    ])
  })

  it('refuses a minimum deposit above the suggested one', () => {
    expect(
      problems(change((c) => (c.session = { suggestedDeposit: '1', minDeposit: '1.000001' }))),
    ).toEqual([
      'session.minDeposit: must not exceed session.suggestedDeposit (1): clients that deposit what is suggested would be refused',
    ])
    expect(
      parse(change((c) => (c.session = { suggestedDeposit: '1', minDeposit: '1' }))).session
        .minDeposit,
    ).toEqual({ amount: 1_000_000n, text: '1' })
  })
})

describe('problems are reported with their YAML path', () => {
  it.each<[string, (c: Draft) => void, string]>([
    ['missing section', (c) => delete (c as Section).payee, 'payee: is required'],
    ['missing field', (c) => delete c.server.realm, 'server.realm: is required'],
    [
      'wrong type',
      (c) => (c.server.port = 'eighty'),
      'server.port: must be a number, not a string',
    ],
    [
      'out of range',
      (c) => (c.server.challengeTtlSeconds = 5),
      'server.challengeTtlSeconds: must be at least 10',
    ],
    ['not whole', (c) => (c.server.port = 80.5), 'server.port: must be a whole number'],
    [
      'bad enum',
      (c) => (c.chain.network = 'mainnet'),
      'chain.network: must be one of: tempo, moderato, devnet, custom',
    ],
    [
      'bad method',
      (c) => (c.routes[0]!.method = 'post'),
      'routes[0].method: must be one of: GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, "*"',
    ],
    [
      'bad address',
      (c) => (c.payee.address = '0x1234'),
      'payee.address: must be an address: 0x followed by 40 hex digits',
    ],
    [
      'token not TIP-20',
      (c) => (c.currency.token = payeeAddress),
      'currency.token: must be a TIP-20 token address (they start with 0x20c000000000000000000000)',
    ],
    [
      'fee token not TIP-20',
      (c) => (c.currency.feeToken = payeeAddress),
      'currency.feeToken: must be a TIP-20 token address (they start with 0x20c000000000000000000000)',
    ],
    [
      'payee is a token',
      (c) => (c.payee.address = '0x20c0000000000000000000000000000000000001'),
      'payee.address: is a TIP-20 token address, which cannot receive TIP-20 payments',
    ],
    ['no routes', (c) => (c.routes = []), 'routes: define at least one route'],
    [
      'no upstreams',
      (c) => ((c as Section).upstreams = {}),
      'upstreams: define at least one upstream',
    ],
    [
      'unknown upstream',
      (c) => (c.routes[0]!.upstream = 'dnue'),
      'routes[0].upstream: "dnue" is not defined under upstreams (defined: dune)',
    ],
    [
      'bad upstream name',
      (c) => (c.upstreams['du ne'] = { baseUrl: 'http://x' }),
      'upstreams["du ne"]: invalid name: upstream names are letters, digits, "-" and "_"',
    ],
    [
      'bad base URL',
      (c) => (c.upstreams.dune.baseUrl = 'ftp://x'),
      'upstreams.dune.baseUrl: must be an http:// or https:// URL',
    ],
    [
      'credentials in base URL',
      (c) => (c.upstreams.dune.baseUrl = 'https://u:p@x'),
      'upstreams.dune.baseUrl: must not contain credentials; send them with `headers` instead',
    ],
    [
      'query in base URL',
      (c) => (c.upstreams.dune.baseUrl = 'https://x/api?key=1'),
      'upstreams.dune.baseUrl: must not have a query or fragment: the incoming path and query are appended to it',
    ],
    [
      'managed header',
      (c) => (c.upstreams.dune.headers.Host = 'x'),
      'upstreams.dune.headers.Host: is managed by the gateway and cannot be injected',
    ],
    [
      'header twice',
      (c) => (c.upstreams.dune.headers['x-dune-api-key'] = 'x'),
      'upstreams.dune.headers.x-dune-api-key: is given twice (header names ignore case, and "_" counts as "-")',
    ],
    [
      'header twice, spelled with "_"',
      (c) => (c.upstreams.dune.headers.X_Dune_Api_Key = 'x'),
      'upstreams.dune.headers.X_Dune_Api_Key: is given twice (header names ignore case, and "_" counts as "-")',
    ],
    [
      'total deadline below the head deadline',
      (c) => Object.assign(c.upstreams.dune, { headersTimeoutMs: 5000, responseTimeoutMs: 4000 }),
      'upstreams.dune.responseTimeoutMs: must be at least headersTimeoutMs (5000): the whole answer cannot arrive before its head',
    ],
    [
      'trusted proxy',
      (c) => Object.assign(c.server, { trustedProxies: ['10.0.0.0/33'] }),
      'server.trustedProxies[0]: must be an IP address or a network such as 10.0.0.0/8',
    ],
    ['route path', (c) => (c.routes[0]!.path = 'v1/sql'), 'routes[0].path: must start with "/"'],
    [
      'wildcard in the middle',
      (c) => (c.routes[0]!.path = '/a/*/b'),
      'routes[0].path: "*" may only be the last segment',
    ],
    [
      'reserved prefix',
      (c) => (c.routes[0]!.path = '/__gateway/healthz'),
      'routes[0].path: must not lie under server.reservedPrefix (/__gateway)',
    ],
    [
      'moved reserved prefix',
      (c) => ((c.server.reservedPrefix = '/_gw'), (c.routes[0]!.path = '/_gw')),
      'routes[0].path: must not lie under server.reservedPrefix (/_gw)',
    ],
    [
      'duplicate route',
      (c) => c.routes.push({ ...c.routes[0]! }),
      'routes[1].path: repeats routes[0] (same method and path); the first match wins, so this route is never used',
    ],
    [
      'passthrough upstream injecting Authorization',
      (c) => (
        (c.upstreams.dune.clientAuthorization = 'passthrough'),
        (c.upstreams.dune.headers.Authorization = 'Bearer x')
      ),
      "upstreams.dune.headers.Authorization: would replace the client's own Authorization, which clientAuthorization: passthrough forwards; remove one of them",
    ],
    [
      'client authorization mode',
      (c) => (c.upstreams.dune.clientAuthorization = 'forward'),
      'upstreams.dune.clientAuthorization: must be one of: payment, passthrough',
    ],
    [
      'route at a discovery path',
      (c) => c.routes.push({ method: 'GET', path: '/llms.txt', upstream: 'dune', price: 'free' }),
      'routes[1].path: is where discovery.llms is served, so GET requests never reach this route; move the document (or set discovery.llms: false)',
    ],
    [
      'one path for both discovery documents',
      (c) => (c.discovery = { openapi: '/docs', llms: '/docs' }),
      'discovery.llms: is also discovery.openapi (/docs); give each its own path',
    ],
    [
      'discovery under the reserved prefix',
      (c) => (c.discovery = { openapi: '/__gateway/openapi.json' }),
      'discovery.openapi: must not lie under server.reservedPrefix (/__gateway)',
    ],
    [
      'discovery path with a parameter',
      (c) => (c.discovery = { llms: '/:doc' }),
      'discovery.llms: must be a literal path such as "/openapi.json"',
    ],
    [
      'served statuses',
      (c) => (c.routes[0]!.servedStatuses = 'ok'),
      'routes[0].servedStatuses: must be a status class ("2xx"), a status code (304), or a list of them (["2xx", 304])',
    ],
    [
      'realm',
      (c) => (c.server.realm = 'a"b'),
      'server.realm: must be non-empty printable ASCII without `"` or `\\` (it is sent inside a quoted header parameter)',
    ],
    [
      'redis missing',
      (c) => (c.ledger = { type: 'redis' }),
      'ledger.redis: is required when ledger.type is redis',
    ],
    [
      'redis forbidden',
      (c) => (c.ledger = { redis: { url: 'redis://x' } }),
      'ledger.redis: is only allowed when ledger.type is redis',
    ],
    [
      'redis URL',
      (c) => (c.ledger = { type: 'redis', redis: { url: 'http://x' } }),
      'ledger.redis.url: must be a redis:// or rediss:// URL',
    ],
    [
      'redis without a target',
      (c) => (c.ledger = { type: 'redis', redis: { keyPrefix: 'x:' } }),
      'ledger.redis: needs exactly one of url, cluster and sentinel',
    ],
    [
      'redis with two targets',
      (c) =>
        (c.ledger = {
          type: 'redis',
          redis: { url: 'redis://x', cluster: { nodes: ['redis://a:7000'] } },
        }),
      'ledger.redis: needs exactly one of url, cluster and sentinel',
    ],
    [
      'redis key prefix with a hash tag',
      (c) => (c.ledger = { type: 'redis', redis: { url: 'redis://x', keyPrefix: '{gw}:' } }),
      'ledger.redis.keyPrefix: may not contain { or } (Cluster hash tags)',
    ],
    [
      'redis replica wait too long',
      (c) =>
        (c.ledger = { type: 'redis', redis: { url: 'redis://x', minReplicasTimeoutMs: 5000 } }),
      'ledger.redis.minReplicasTimeoutMs: must be at most 1500',
    ],
    [
      'tempo chain id',
      (c) => (c.chain = { network: 'tempo', chainId: 42431 }),
      'chain.chainId: tempo is chain 4217; set chainId to 4217 or remove it',
    ],
    [
      'moderato chain id',
      (c) => (c.chain = { network: 'moderato', chainId: 4217 }),
      'chain.chainId: moderato is chain 42431; set chainId to 42431 or remove it',
    ],
    [
      'signer key',
      (c) => (c.payee.signerKey = otherKey),
      `payee.signerKey: is the key of ${privateKeyToAddress(otherKey)}, not of payee.address (to sign as an operator, set payee.operator)`,
    ],
    [
      'operator mismatch',
      (c) => (
        (c.payee.signerKey = otherKey),
        (c.payee.operator = '0x0000000000000000000000000000000000000001')
      ),
      `payee.signerKey: is the key of ${privateKeyToAddress(otherKey)}, which is neither payee.address nor payee.operator`,
    ],
    [
      'malformed key',
      (c) => (c.payee.signerKey = '0x1234'),
      'payee.signerKey: must be a private key: 0x followed by 64 hex digits',
    ],
    [
      'zero key',
      (c) => (c.payee.signerKey = `0x${'0'.repeat(64)}`),
      'payee.signerKey: is not a valid secp256k1 private key',
    ],
    [
      'upstream path with a parameter the path lacks',
      (c) => (
        (c.routes[0]!.path = '/v1/execution/:execution_id/csv'),
        (c.routes[0]!.upstreamPath = '/v1/execution/:id/results/csv')
      ),
      "routes[0].upstreamPath: uses :id, which the route's path does not match (its parameters: :execution_id)",
    ],
    [
      'upstream path carrying a rest the path lacks',
      (c) => (c.routes[0]!.upstreamPath = '/v2/*'),
      'routes[0].upstreamPath: ends in "*", but the route\'s path does not (nothing to carry over)',
    ],
    [
      'upstream path grammar',
      (c) => (c.routes[0]!.upstreamPath = '/v1/sql?x=1'),
      'routes[0].upstreamPath: segment "sql?x=1" has characters that are not allowed here ("*" must be a whole segment; no "?", "#" or spaces)',
    ],
    [
      'shadow on a free route',
      (c) => ((c.routes[0]!.price = 'free'), (c.routes[0]!.shadow = true)),
      'routes[0].shadow: has no effect on a free route (there is nothing to shadow)',
    ],
    [
      'CORS origin with a path',
      (c) => (c.server.cors = { allowedOrigins: ['https://app.example.com/'] }),
      'server.cors.allowedOrigins[0]: must be "*" or an origin as browsers send it, e.g. https://app.example.com (scheme, host and port only, lower case, without a path or trailing "/"; here: https://app.example.com)',
    ],
    [
      'CORS origin that is no URL',
      (c) => (c.server.cors = { allowedOrigins: ['app.example.com'] }),
      'server.cors.allowedOrigins[0]: must be "*" or an origin as browsers send it, e.g. https://app.example.com',
    ],
    [
      'CORS without origins',
      (c) => (c.server.cors = { allowedOrigins: [] }),
      'server.cors.allowedOrigins: name at least one origin, or "*"',
    ],
    [
      'charge intent while charges are off',
      (c) => (c.routes[0]!.intents = ['session', 'charge']),
      'routes[0].intents: names charge, which needs tempoCharge.enabled: true',
    ],
    [
      'intents on a free route',
      (c) => ((c.routes[0]!.price = 'free'), (c.routes[0]!.intents = ['session'])),
      'routes[0].intents: has no effect on a free route (nothing is paid)',
    ],
    [
      'repeated intent',
      (c) => (c.routes[0]!.intents = ['session', 'session']),
      'routes[0].intents: must not repeat an intent',
    ],
    [
      'unknown charge mode',
      (c) => (c.tempoCharge = { enabled: true, modes: ['later'] }),
      'tempoCharge.modes[0]: must be one of: pull, push',
    ],
    [
      'short secret',
      (c) => (c.server.previousChallengeSecrets = ['x'.repeat(31)]),
      'server.previousChallengeSecrets[0]: must be at least 32 bytes long; generate one with `openssl rand -hex 32`',
    ],
  ])('%s', (_name, edit, expected) => {
    expect(problems(change(edit))).toEqual([expected])
  })

  it('requires rpcUrl and chainId for devnet and custom networks', () => {
    for (const network of ['devnet', 'custom']) {
      expect(problems(change((c) => (c.chain = { network })))).toEqual([
        `chain.rpcUrl: is required when network is ${network}`,
        `chain.chainId: is required when network is ${network}`,
      ])
    }
    const config = parse(
      change((c) => (c.chain = { network: 'custom', rpcUrl: 'https://rpc.example', chainId: 7 })),
    )
    expect(config.chain).toMatchObject({
      network: 'custom',
      rpcUrl: 'https://rpc.example',
      chainId: 7,
    })
  })

  it('rejects unknown keys everywhere, one problem per key', () => {
    const config = change((c) => {
      c.extra = 1
      c.server.prot = 8080
      c.upstreams.dune.timeout = 5
      c.routes[0]!.prise = '1'
      c.ledger = { type: 'memory', durable: true }
    })
    expect(problems(config)).toEqual([
      'server.prot: is not a known key (check its spelling and indentation)',
      'upstreams.dune.timeout: is not a known key (check its spelling and indentation)',
      'routes[0].prise: is not a known key (check its spelling and indentation)',
      'extra: is not a known key (check its spelling and indentation)',
      'ledger.durable: is not a known key (check its spelling and indentation)',
    ])
  })

  it('reports every problem at once: field, cross-field and environment problems together', () => {
    const config = change((c) => {
      c.server.port = 'x' // field
      c.server.unknown = true // unknown key
      c.payee.address = 'nope' // field
      c.chain = { network: 'tempo', chainId: 1 } // cross-field
      c.currency.decimals = 2
      c.routes[0]!.price = '0.001' // cross-field: too fine for 2 decimals
      c.routes.push({ method: 'GET', path: '/x', upstream: 'missing', price: 'free' }) // cross-field
      c.routes.push({ method: 'GET', path: '/y/*/z', upstream: 'dune', price: '-1' }) // two field problems
      c.upstreams.dune.headers['X-Other'] = '${NOT_SET}' // environment
    })
    expect(problems(config)).toEqual([
      'server.port: must be a number, not a string',
      'server.unknown: is not a known key (check its spelling and indentation)',
      'chain.chainId: tempo is chain 4217; set chainId to 4217 or remove it',
      'payee.address: must be an address: 0x followed by 40 hex digits',
      'upstreams.dune.headers.X-Other: environment variable NOT_SET is not set (and the reference has no :-default)',
      'routes[0].price: has 3 fraction digits but the currency has 2 decimals (the smallest amount is "0.01")',
      'routes[1].upstream: "missing" is not defined under upstreams (defined: dune)',
      'routes[2].path: "*" may only be the last segment',
      'routes[2].price: must not be negative (or write "free")',
    ])
  })

  it('pins problems to lines, and to the nearest existing parent for a missing key', () => {
    const text = [
      'server:', //                                       1
      '  realm: api.example.com', //                      2
      '  challengeSecret: ${MPP_CHALLENGE_SECRET}', //    3
      '  port: 70000', //                                 4
      'chain: { network: tempo }', //                     5
      'payee:', //                                        6
      `  address: ${payeeAddress}`, //                    7
      'currency:', //                                     8
      '  token: 0x20c0000000000000000000000000000000000000', // 9
      'upstreams:', //                                    10
      '  dune: { baseUrl: "https://x" }', //              11
      'routes:', //                                       12
      '  - method: GET', //                               13
      '    path: /a', //                                  14
      '    upstream: dune', //                            15
      '    price: "0.1"', //                              16
      '  - method: GET', //                               17
      '    path: /b', //                                  18
      '    upstream: dune', //                            19
      '    price: 0.1', //                                20
    ].join('\n')
    expect(issuesOf(text).map(({ path, line }) => ({ path, line }))).toEqual([
      { path: 'server.port', line: 4 },
      { path: 'payee.signerKey', line: 6 },
      { path: 'routes[1].price', line: 20 },
    ])
    expect(() => parse(text)).toThrow(
      /gateway\.yaml: 3 problems\n {2}- server\.port \(line 4\): must be at most 65535/,
    )
  })

  it('reports YAML syntax errors with their line, and an empty file', () => {
    const [duplicate, ...more] = issuesOf('server:\n  realm: a\n  realm: b\n')
    expect(more).toEqual([])
    expect(duplicate).toMatchObject({ path: '', line: 3 })
    expect(duplicate?.message).toMatch(/^YAML syntax: /)
    expect(issuesOf('routes: [\n')[0]?.message).toContain('YAML syntax')
    expect(problems('')).toEqual([': the file is empty'])
    expect(problems('- a\n- b\n')).toEqual([': must be a map, not a list'])
    expect(problems('a: *nowhere\n')[0]).toMatch(/^: YAML: Unresolved alias/)
    // A missing top-level key has no line to point at; it is listed after the located problems.
    const withoutRoutes = stringify(change((c) => delete (c as Section).routes))
    const extraLine = withoutRoutes.split('\n').length
    expect(issuesOf(`${withoutRoutes}extra: 1\n`)).toEqual([
      {
        path: 'extra',
        message: 'is not a known key (check its spelling and indentation)',
        line: extraLine,
      },
      { path: 'routes', message: 'is required' },
    ])
  })

  it('reports an unreadable file as a ConfigError', () => {
    const issues = catchIssues(() => loadConfig({ path: '/nonexistent/gateway.yaml', env: {} }))
    expect(issues).toEqual([{ path: '', message: 'cannot read the file (ENOENT)' }])
  })
})

describe('environment references', () => {
  it('reports a missing variable by path, without echoing any value', () => {
    const env = { ...testEnv, DUNE_API_KEY: undefined }
    const error = catchError(() => parse(base(), env))
    expect(error.issues.map(({ path, message }) => ({ path, message }))).toEqual([
      {
        path: 'upstreams.dune.headers.X-Dune-Api-Key',
        message:
          'environment variable DUNE_API_KEY is not set (and the reference has no :-default)',
      },
    ])
    expect(error.issues[0]?.line).toBeGreaterThan(1)
    for (const value of [challengeSecret, payeeKey, payeeKey.slice(2)])
      expect(error.message).not.toContain(value)
  })

  it('refuses a challenge secret shorter than 32 bytes, without echoing it', () => {
    const short = 'short-secret-value-1234567890' // 29 bytes
    const error = catchError(() => parse(base(), { ...testEnv, MPP_CHALLENGE_SECRET: short }))
    expect(error.issues.map((issue) => `${issue.path}: ${issue.message}`)).toEqual([
      'server.challengeSecret: must be at least 32 bytes long; generate one with `openssl rand -hex 32`',
    ])
    expect(error.message).not.toContain(short)
    // Bytes, not characters: 16 two-byte characters are 32 bytes.
    expect(
      parse(base(), { ...testEnv, MPP_CHALLENGE_SECRET: 'é'.repeat(16) }).server.challengeSecret,
    ).toBe('é'.repeat(16))
    expect(problems(base(), { ...testEnv, MPP_CHALLENGE_SECRET: 'é'.repeat(15) })).toHaveLength(1)
  })

  it('never echoes an environment value, whatever fails', () => {
    const secrets = {
      MPP_CHALLENGE_SECRET: 'tiny-secret-zz',
      PAYEE_PRIVATE_KEY: '0xsecret-key-material-zz',
      DUNE_API_KEY: 'line\nbreak-secret-zz',
      REDIS_URL: 'http://user:redis-password-zz@host',
      PORT: 'port-secret-zz',
    }
    const config = change((c) => {
      c.server.port = '${PORT}'
      c.ledger = { type: 'redis', redis: { url: '${REDIS_URL}' } }
    })
    const error = catchError(() => parse(config, secrets))
    expect(error.issues.map((issue) => issue.path)).toEqual([
      'server.challengeSecret',
      'server.port',
      'payee.signerKey',
      'upstreams.dune.headers.X-Dune-Api-Key',
      'ledger.redis.url',
    ])
    for (const value of Object.values(secrets)) {
      expect(error.message).not.toContain(value.slice(0, 12))
      expect(JSON.stringify(error.issues)).not.toContain(value.slice(0, 12))
    }
  })

  it('coerces numbers and booleans only when they came from an expansion', () => {
    const config = change((c) => {
      c.server.port = '${PORT}'
      c.server.realm = '${REALM}'
      c.server.challengeSecret = '${DIGITS}'
      c.chain = {
        network: 'custom',
        rpcUrl: '${RPC:-http://127.0.0.1:8545}',
        chainId: '${CHAIN_ID:-1337}',
      }
      c.ledger = { type: 'redis', redis: { url: 'redis://r', requireDurable: '${DURABLE}' } }
    })
    const digits = '1234567890'.repeat(4)
    const parsed = parse(config, {
      ...testEnv,
      PORT: '9090',
      REALM: '12345',
      DIGITS: digits,
      DURABLE: 'true',
    })
    expect(parsed.server).toMatchObject({ port: 9090, realm: '12345', challengeSecret: digits })
    expect(parsed.chain).toMatchObject({ rpcUrl: 'http://127.0.0.1:8545', chainId: 1337 })
    expect(parsed.ledger).toEqual({
      type: 'redis',
      redis: { url: 'redis://r', keyPrefix: 'mppgw:', requireDurable: true, ...replicaDefaults },
    })

    // Quoted by hand: still an error. Expanded but not a number: an error that does not echo it.
    expect(problems(change((c) => (c.server.port = '9090')))).toEqual([
      'server.port: must be a number, not a string',
    ])
    expect(
      problems(
        change((c) => (c.server.port = '${PORT}')),
        { ...testEnv, PORT: '80a' },
      ),
    ).toEqual(['server.port: must be a number, not a string'])
    // Amounts are strings in the schema: an expanded price stays exact text.
    expect(
      parse(
        change((c) => (c.routes[0]!.price = '${PRICE}')),
        { ...testEnv, PRICE: '0.000001' },
      ).routes[0]?.price.amount,
    ).toBe(1n)
  })
})

describe('the returned configuration', () => {
  it('is deeply frozen: mutating it throws', () => {
    const config = parse(change((c) => (c.server.previousChallengeSecrets = ['p'.repeat(32)])))
    // Writing through the readonly type on purpose: the freeze must stop it at run time too.
    const mutable = config as unknown as {
      server: { port: number; previousChallengeSecrets: string[] }
      chain: { escrow?: string }
      upstreams: Record<string, { headers: Record<string, string> }>
      routes: { price: { amount: bigint }; servedStatuses: unknown[] }[]
    }
    expect(() => (mutable.server.port = 1)).toThrow(TypeError)
    expect(() => (mutable.routes[0]!.price.amount = 0n)).toThrow(TypeError)
    expect(() => mutable.routes.push(mutable.routes[0]!)).toThrow(TypeError)
    expect(() => (mutable.upstreams.dune!.headers['X-New'] = 'x')).toThrow(TypeError)
    expect(() => mutable.server.previousChallengeSecrets.pop()).toThrow(TypeError)
    expect(() => (mutable.routes[0]!.servedStatuses[0] = '5xx')).toThrow(TypeError)
    expect(() => delete mutable.chain.escrow).toThrow(TypeError)
    expect(config.server.port).toBe(8080)
  })
})

describe('metered routes', () => {
  const metered = (block: unknown, price: unknown = '0.05') =>
    change((c) => {
      c.routes[0]!.price = price
      c.routes[0]!.metered = block
    })

  it('reads base, perUnit and one unit source into base units', () => {
    const config = parse(
      metered({
        base: '0.001',
        perUnit: '0.0001',
        units: { jsonField: 'result.metadata.row_count' },
      }),
    )
    expect(config.routes[0]?.price.amount).toBe(50_000n)
    expect(config.routes[0]?.metered).toEqual({
      base: 1_000n,
      perUnit: 100n,
      units: { kind: 'json', path: ['result', 'metadata', 'row_count'] },
      bufferBytes: 1_048_576,
    })
    const bytes = parse(
      metered({ perUnit: '0.01', units: { bytes: 1_000_000 }, bufferBytes: 4096 }),
    )
    expect(bytes.routes[0]?.metered).toEqual({
      base: 0n,
      perUnit: 10_000n,
      units: { kind: 'bytes', per: 1_000_000 },
      bufferBytes: 4096,
    })
    const header = parse(metered({ perUnit: '0.01', units: { header: 'X-Row-Count' } }))
    expect(header.routes[0]?.metered?.units).toEqual({ kind: 'header', name: 'x-row-count' })
  })

  it('reports every problem of a metered block with its path', () => {
    expect(
      problems(
        metered(
          {
            base: '0.05',
            perUnit: '0.0000001',
            units: { bytes: 1000, header: 'x-rows' },
            bufferBytes: 10,
            extra: 1,
          },
          '0.05',
        ),
      ).sort(),
    ).toEqual([
      'routes[0].metered.base: must be below the route price (0.05), the most one answer costs',
      'routes[0].metered.bufferBytes: must be at least 1024',
      'routes[0].metered.extra: is not a known key (check its spelling and indentation)',
      'routes[0].metered.perUnit: has 7 fraction digits but the currency has 6 decimals (the smallest amount is "0.000001")',
      'routes[0].metered.units: name exactly one of bytes, jsonField, header',
    ])
    expect(
      problems(metered({ base: '0.05', perUnit: '0.0000001', units: { bytes: 1000 } })).sort(),
    ).toEqual([
      'routes[0].metered.base: must be below the route price (0.05), the most one answer costs',
      'routes[0].metered.perUnit: has 7 fraction digits but the currency has 6 decimals (the smallest amount is "0.000001")',
    ])
    expect(problems(metered({ perUnit: '0.01', units: { jsonField: 'a..b' } }))).toEqual([
      'routes[0].metered.units.jsonField: must be a dotted path such as result.metadata.row_count (letters, digits, "_", "-", "$")',
    ])
    expect(problems(metered({ perUnit: '0.01', units: { header: 'Payment-Receipt' } }))).toEqual([
      'routes[0].metered.units.header: must not be a header the gateway writes itself',
    ])
    expect(problems(metered({ perUnit: '0.01', units: {} }))).toEqual([
      'routes[0].metered.units: name exactly one of bytes, jsonField, header',
    ])
    expect(problems(metered({ perUnit: '0.01', units: { bytes: 1 } }, 'free'))).toEqual([
      'routes[0].price: must be the most one answer costs on a metered route, not free',
    ])
  })
})

function catchError(run: () => unknown): ConfigError {
  try {
    run()
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error('expected a ConfigError')
}

function catchIssues(run: () => unknown): ConfigIssue[] {
  return [...catchError(run).issues]
}
