/**
 * The structure of gateway.yaml, field by field: every key, its type, its default and its
 * documentation (which the generated JSON Schema shows in editors).
 *
 * Invariants: every object is strict (an unknown key is an error, so a typo never silently falls
 * back to a default); defaults live here and nowhere else; rules that relate two fields are in
 * cross-checks.ts, and the conversion to the final `Config` (base-unit amounts, resolved chain
 * profile) is in schema.ts.
 */
import { z } from 'zod'
import { canonicalEscrow } from '../chain/escrow-abi.js'
import {
  address,
  baseUrl,
  decimalAmount,
  httpUrl,
  integer,
  ipOrCidr,
  price,
  privateKey,
  redisUrl,
  secret,
  text,
} from './field-types.js'
import { adminSchema } from './admin.js'
import { corsSchema } from './cors.js'
import { meteredSchema } from './metered.js'
import { networkNames } from './networks.js'
import { reservedPrefixProblem, routePatternProblem, upstreamPathProblem } from './route-pattern.js'
import { servedStatusesSchema } from './served-statuses.js'
import { serverDefaults } from './server-defaults.js'

/** An enum whose wrong values are answered with the list of allowed ones. */
function oneOf<const T extends readonly [string, ...string[]]>(values: T, description: string) {
  const allowed = values.map((value) => (value === '*' ? '"*"' : value)).join(', ')
  return z
    .enum(values, {
      error: (issue) => (issue.input === undefined ? undefined : `must be one of: ${allowed}`),
    })
    .meta({ description })
}

/** Text checked by a function that names its own problem (or returns `undefined`). */
function checkedText(check: (value: string) => string | undefined, description: string) {
  return z
    .string()
    .superRefine((value, ctx) => {
      const problem = check(value)
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
    })
    .meta({ description })
}

const realmProblem = (value: string) =>
  /^[\x20-\x7e]+$/.test(value) && !/["\\]/.test(value)
    ? undefined
    : 'must be non-empty printable ASCII without `"` or `\\` (it is sent inside a quoted header parameter)'

const server = z.strictObject({
  host: text('Interface to listen on.').default(serverDefaults.host),
  port: integer({
    min: 0,
    max: 65535,
    description: 'TCP port to listen on (0: any free port).',
  }).default(serverDefaults.port),
  realm: checkedText(
    realmProblem,
    'Protection space named in payment challenges, usually the public host name.',
  ),
  challengeSecret: secret(
    'HMAC key that binds challenges to this gateway; at least 32 bytes. Use ${ENV}.',
  ),
  previousChallengeSecrets: z
    .array(
      secret(
        'A retired challenge secret, still accepted for verification while challenges signed with it can be outstanding.',
      ),
    )
    .default([]),
  metricsToken: secret(
    'Bearer token Prometheus presents to scrape <reservedPrefix>/metrics; at least 32 bytes. ' +
      'Without it the endpoint does not exist. Use ${ENV}.',
  ).optional(),
  challengeTtlSeconds: integer({
    min: 10,
    max: 3600,
    description: 'Seconds a challenge stays valid.',
  }).default(300),
  reservedPrefix: checkedText(
    reservedPrefixProblem,
    "Path prefix of the gateway's own endpoints (healthz, readyz); routes may not use it.",
  ).default(serverDefaults.reservedPrefix),
  maxHeaderBytes: integer({
    min: 1024,
    max: 1048576,
    description: 'Largest request header section accepted, in bytes.',
  }).default(16384),
  shutdownGraceSeconds: integer({
    min: 0,
    max: 600,
    description: 'Seconds in-flight requests may take to finish at shutdown.',
  }).default(10),
  headersTimeoutMs: integer({
    min: 1000,
    max: 600000,
    description:
      'Milliseconds a client has to send the request line and headers; then the connection is answered 408 and closed.',
  }).default(10000),
  requestBodyTimeoutMs: integer({
    min: 100,
    max: 3600000,
    description:
      'Milliseconds a client has to send the whole request body once the gateway asks for it; a late body is answered 408 request-timeout and holds no upstream connection after that.',
  }).default(30000),
  bufferedBodyBytes: integer({
    min: 0,
    max: 16777216,
    description:
      'Request bodies whose Content-Length is at most this are read whole before an upstream connection is taken, so a slow client never holds one; larger and chunked bodies are streamed.',
  }).default(65536),
  trustedProxies: z
    .array(
      ipOrCidr(
        'Address (10.0.0.7) or network (10.0.0.0/8, fd00::/8) of a proxy in front of the gateway.',
      ),
    )
    .meta({
      description:
        'Proxies whose Forwarded, X-Forwarded-* and X-Real-IP headers are passed to the upstream (X-Forwarded-For appended to). From any other peer these headers are dropped and the gateway states its own observation.',
    })
    .default([]),
  shadow: z
    .boolean()
    .meta({
      description:
        'Shadow mode for every priced route (a route may override it): requests without a Payment credential are forwarded unpaid, answered with the Payment-Shadow-Price they would have paid, and counted.',
    })
    .default(false),
  cors: corsSchema.optional(),
})

const chain = z.strictObject({
  network: oneOf(
    networkNames,
    'Tempo network: tempo (mainnet, 4217), moderato (testnet, 42431), devnet or custom.',
  ),
  rpcUrl: httpUrl(
    'JSON-RPC endpoint. Defaults to the public RPC for tempo and moderato; required for devnet and custom.',
  ).optional(),
  chainId: integer({
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
    description:
      'Chain id. Fixed for tempo (4217) and moderato (42431); required for devnet and custom.',
  }).optional(),
  escrow: address({ description: 'TIP-1034 channel escrow address.', tip20: 'not-token' }).prefault(
    canonicalEscrow,
  ),
  stateTtlMs: integer({
    min: 0,
    max: 600000,
    description: "Milliseconds a channel's on-chain state read is cached.",
  }).default(5000),
  readTimeoutMs: integer({
    min: 100,
    max: 60000,
    description:
      'Milliseconds a chain read on the request path (and the readiness probe) may take before it counts as failed.',
  }).default(2000),
  readFailureTtlMs: integer({
    min: 0,
    max: 600000,
    description:
      'Milliseconds a failed chain read is remembered: meanwhile paid requests are served from the ledger without reading the chain, opens and top-ups are refused 503, and readyz says degraded. A sick RPC costs one request, not every request.',
  }).default(10000),
})

const payee = z.strictObject({
  address: address({
    description: "Receives the payments (the challenge's recipient).",
    tip20: 'not-token',
  }),
  signerKey: privateKey(
    'Private key of the payee, or of the operator when one is set; signs close and settle transactions. Use ${ENV}.',
  ),
  operator: address({
    description: 'Optional operator allowed to close and settle channels on behalf of the payee.',
    tip20: 'not-token',
  }).optional(),
})

const currency = z.strictObject({
  token: address({ description: 'TIP-20 token the channels are denominated in.', tip20: 'token' }),
  decimals: integer({
    min: 0,
    max: 18,
    description: 'Decimals of the token (TIP-20 tokens have 6).',
  }).default(6),
  feeToken: address({
    description: "TIP-20 token that pays the gateway's own transaction fees (default: token).",
    tip20: 'token',
  }).optional(),
})

const session = z.strictObject({
  suggestedDeposit: decimalAmount(
    'Deposit suggested to clients opening a channel, in currency units (a quoted decimal string).',
  ).prefault('1'),
  minVoucherDelta: decimalAmount(
    'Smallest increase a voucher must carry, in currency units (a quoted decimal string).',
  ).prefault('0'),
  minDeposit: decimalAmount(
    'Smallest deposit accepted when a channel is opened, in currency units (a quoted decimal ' +
      'string). Every channel costs the payee a close transaction; 0 only requires one request.',
  ).prefault('0'),
  reservationTtlSeconds: integer({
    min: 1,
    max: 3600,
    description: 'Seconds an unresolved on-success reservation lives.',
  }).default(60),
})

const tempoCharge = z.strictObject({
  enabled: z
    .boolean()
    .meta({
      description:
        'Offer one-shot payments (MPP tempo/charge: one TIP-20 transfer per request) beside sessions.',
    })
    .default(false),
  modes: z
    .array(
      oneOf(
        ['pull', 'push'],
        'pull: the client signs the transfer and the gateway broadcasts it once the upstream ' +
          'served; push: the client broadcasts it first and sends its hash (paid even when the ' +
          'upstream then fails).',
      ),
    )
    .min(1, 'name at least one mode')
    .refine((modes) => new Set(modes).size === modes.length, 'must not repeat a mode')
    .meta({ description: 'How clients may pay a charge (advertised as supportedModes).' })
    .default(['pull', 'push']),
})

const ledger = z.strictObject({
  type: oneOf(
    ['memory', 'redis'],
    'Where channel state is kept: memory (single process, lost on restart) or redis.',
  ).default('memory'),
  redis: z
    .strictObject({
      url: redisUrl(
        'One Redis server: redis:// or rediss:// URL, may carry credentials. Use ${ENV}. Exactly one of url, cluster, sentinel.',
      ).optional(),
      cluster: z
        .strictObject({
          nodes: z
            .array(redisUrl('A seed node of the cluster, redis:// or rediss:// URL.'))
            .min(1)
            .meta({
              description:
                'Seed nodes; the first one’s credentials and scheme apply to every node. Use ${ENV}.',
            }),
        })
        .meta({ description: 'A Redis Cluster.' })
        .optional(),
      sentinel: z
        .strictObject({
          name: z.string().min(1).meta({ description: 'The primary’s name in the Sentinels.' }),
          nodes: z
            .array(redisUrl('A Sentinel, redis://[:password@]host:port.'))
            .min(1)
            .meta({ description: 'The Sentinels; the first one’s credentials apply to all.' }),
          username: z.string().meta({ description: 'User of the primary.' }).optional(),
          password: z
            .string()
            .meta({ description: 'Password of the primary. Use ${ENV}.' })
            .optional(),
          tls: z.boolean().meta({ description: 'Connect to the primary with TLS.' }).default(false),
        })
        .meta({ description: 'A primary watched by Redis Sentinel (failover followed).' })
        .optional(),
      keyPrefix: z
        .string()
        .refine((value) => !/[{}]/.test(value), 'may not contain { or } (Cluster hash tags)')
        .meta({ description: 'Prefix of every key the gateway writes.' })
        .default('mppgw:'),
      requireDurable: z
        .boolean()
        .meta({ description: 'Refuse to start unless Redis persists writes (appendonly).' })
        .default(false),
      minReplicas: integer({
        min: 0,
        max: 16,
        description:
          'Replicas that must acknowledge an accepted voucher (WAIT) before the paid request is forwarded; if fewer do in time, 503 ledger-unavailable. 0: do not wait.',
      }).default(0),
      minReplicasTimeoutMs: integer({
        min: 1,
        max: 1500,
        description: 'How long to wait for minReplicas, in ms.',
      }).default(500),
    })
    .optional(),
})

const settlement = z.strictObject({
  enabled: z
    .boolean()
    .meta({ description: 'Run the settler and close watcher inside this gateway process.' })
    .default(true),
  amountThreshold: decimalAmount(
    'Settle a channel once this much spent value is unsettled, in currency units.',
  ).prefault('1'),
  maxUnsettledSeconds: integer({
    min: 1,
    max: 30 * 24 * 3600,
    description: 'Settle a channel whose spent value has been unsettled for longer than this.',
  }).default(3600),
  depositPercent: integer({
    min: 1,
    max: 100,
    description: 'Settle a channel once its accepted value reaches this share of the deposit.',
  }).default(90),
  closeMarginSeconds: integer({
    min: 60,
    max: 840,
    description:
      'A forced close is settled at once; a warning is logged if that has not landed this long before the grace period ends.',
  }).default(300),
  onShutdown: z
    .boolean()
    .meta({
      description: 'Settle every channel with unsettled spent value when the gateway stops.',
    })
    .default(false),
  pollIntervalMs: integer({
    min: 50,
    max: 60000,
    description: 'How often the settler looks for due channels.',
  }).default(1000),
  lockTtlMs: integer({
    min: 1000,
    max: 600000,
    description: 'How long a settler holds a channel before another instance may take it over.',
  }).default(30000),
  reconcileIntervalSeconds: integer({
    min: 1,
    max: 86400,
    description: 'How often every open channel is checked against the chain.',
  }).default(60),
  maxAttempts: integer({
    min: 1,
    max: 100,
    description:
      'Failed attempts per channel after which each further failure is logged as an error.',
  }).default(8),
  receiptTimeoutMs: integer({
    min: 500,
    max: 300000,
    description:
      'How long to wait for the receipt of a settle or close before its outcome counts as unknown (it is then reconciled, never resent as a new transaction).',
  }).default(30000),
})

/** Headers the gateway manages per connection or per request; injecting them would break framing. */
const managedHeaders = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-connection',
  'proxy-authorization',
])

const headers = z
  .record(
    z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'is not a valid HTTP header name'),
    z
      .string()
      .refine((value) => value !== '', 'is empty (is its environment variable set?)')
      .refine((value) => !/[\r\n\0]/.test(value), 'must not contain line breaks'),
  )
  .superRefine((record, ctx) => {
    const seen = new Set<string>()
    for (const name of Object.keys(record)) {
      // As the forwarder judges client headers (upstream/headers.ts): `_` reads as `-`.
      const lower = name.toLowerCase().replaceAll('_', '-')
      if (managedHeaders.has(lower)) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: 'is managed by the gateway and cannot be injected',
        })
      } else if (seen.has(lower)) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: 'is given twice (header names ignore case, and "_" counts as "-")',
        })
      }
      seen.add(lower)
    }
  })
  .meta({
    description:
      'Headers added to every forwarded request, e.g. an API key. Use ${ENV} for secrets.',
  })

const upstream = z.strictObject({
  baseUrl: baseUrl('http(s) URL the incoming path is appended to, e.g. https://api.dune.com/api.'),
  headers: headers.default({}),
  connectTimeoutMs: integer({
    min: 1,
    max: 600000,
    description: 'Milliseconds to establish a connection.',
  }).default(5000),
  headersTimeoutMs: integer({
    min: 1,
    max: 3600000,
    description: 'Milliseconds to receive the response headers.',
  }).default(30000),
  bodyTimeoutMs: integer({
    min: 1,
    max: 3600000,
    description: 'Milliseconds allowed between two chunks of the response body.',
  }).default(300000),
  responseTimeoutMs: integer({
    min: 1,
    max: 86400000,
    description:
      "Milliseconds from sending the request to the end of the upstream's response body; a later answer is cut (504 before its head).",
  }).default(600000),
  queueTimeoutMs: integer({
    min: 0,
    max: 600000,
    description:
      'Milliseconds a request may wait for a free connection when all of them are busy; then 503 upstream-busy.',
  }).default(5000),
  maxRequestBodyBytes: integer({
    min: 0,
    max: 1073741824,
    description: 'Largest request body forwarded, in bytes.',
  }).default(1048576),
  connections: integer({ min: 1, max: 10000, description: 'Connection pool size.' }).default(64),
  clientAuthorization: oneOf(
    ['payment', 'passthrough'],
    "payment: clients pay in `Authorization: Payment …`. passthrough: the client's own " +
      '`Authorization` (e.g. its API key for this upstream) is forwarded unchanged, and ' +
      'challenges ask for the payment in `Payment-Authorization` instead.',
  ).default('payment'),
})

const upstreams = z
  .record(
    z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'upstream names are letters, digits, "-" and "_"'),
    upstream,
  )
  .refine((record) => Object.keys(record).length > 0, 'define at least one upstream')
  .meta({ description: 'The APIs behind the gateway, by name.' })

/**
 * A request rate: `requests` in `perSeconds`, as a GCRA (src/limits/gcra.ts): up to `requests`
 * back to back, then one every `perSeconds / requests` seconds.
 */
const rate = z
  .strictObject({
    requests: integer({
      min: 1,
      max: 1_000_000,
      description: 'Requests allowed in a burst, and per perSeconds on average.',
    }),
    perSeconds: integer({
      min: 1,
      max: 86_400,
      description: 'The period, in seconds, that `requests` are spread over.',
    }),
  })
  .meta({ description: 'A request rate: a burst of `requests`, refilled over `perSeconds`.' })

const routeRateLimit = z
  .strictObject({
    perPayer: rate.optional(),
    perChannel: rate.optional(),
  })
  .meta({
    description:
      'Rates of paid requests on this route per payer address and per channel, shared by every instance on the same Redis ledger; a request over either is answered 429 with Retry-After before it is charged or forwarded.',
  })

const limits = z.strictObject({
  challengesPerClient: rate.optional().meta({
    description:
      'Rate of 402 challenges issued to one client address (the peer, or the nearest untrusted X-Forwarded-For address behind a trusted proxy); more are answered 429 with Retry-After.',
  }),
})

const route = z.strictObject({
  method: oneOf(
    ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', '*'],
    'HTTP method, or "*" for any.',
  ),
  path: checkedText(
    routePatternProblem,
    'Path pattern: literal segments, ":param" for one segment, a final "*" for the rest.',
  ),
  upstream: text('Name of the upstream that serves this route.'),
  upstreamPath: checkedText(
    upstreamPathProblem,
    'Path requested from the upstream instead of the request path, e.g. /v1/execution/:id/results/csv: ' +
      '":param" is the segment the route path matched, a final "*" the rest of it; the query is kept.',
  ).optional(),
  price: price('Price per request in currency units as a quoted decimal string ("0.05"), or free.'),
  unitType: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'must be a word such as "request" (letters, digits, ".", "_", "-")')
    .meta({ description: 'What one payment buys, shown to payers.' })
    .default('request'),
  description: z
    .string()
    .refine(
      (value) => value.length <= 256 && !/[\r\n]/.test(value),
      'must be one line of at most 256 characters',
    )
    .meta({ description: 'Shown to payers in the challenge.' })
    .optional(),
  charge: oneOf(
    ['on-success', 'always'],
    'on-success: charge only when the upstream answer counts as served; always: charge every forwarded request.',
  ).default('on-success'),
  servedStatuses: servedStatusesSchema
    .meta({
      description:
        'Upstream statuses that count as served for on-success, e.g. "2xx" or ["2xx", 304].',
    })
    .prefault('2xx'),
  shadow: z
    .boolean()
    .meta({ description: 'Shadow mode for this priced route (default: server.shadow).' })
    .optional(),
  metered: meteredSchema.optional(),
  intents: z
    .array(oneOf(['session', 'charge'], 'session: a Tempo payment channel; charge: one-shot.'))
    .min(1, 'name at least one intent')
    .refine((intents) => new Set(intents).size === intents.length, 'must not repeat an intent')
    .meta({
      description:
        'How this priced route may be paid, one challenge each (default: session, and charge ' +
        'when tempoCharge.enabled).',
    })
    .optional(),
  rateLimit: routeRateLimit.optional(),
})

/** A discovery document's path, or `false` to serve none. */
function discoveryPath(description: string) {
  return z
    .union([
      z.literal(false),
      checkedText(
        (value) =>
          routePatternProblem(value) ??
          (value === '/' || value.split('/').some((s) => s === '*' || s.startsWith(':'))
            ? 'must be a literal path such as "/openapi.json"'
            : undefined),
        description,
      ),
    ])
    .meta({ description })
}

const discovery = z.strictObject({
  openapi: discoveryPath(
    'Path of the OpenAPI document listing every route with its price (x-payment-info), or ' +
      'false to serve none. Built from this file; never charged or forwarded.',
  ).default('/openapi.json'),
  llms: discoveryPath(
    'Path of the plain-text llms.txt summary of the routes and prices, or false to serve none.',
  ).default('/llms.txt'),
  title: text('Title of the API in the discovery documents (default: server.realm).').optional(),
  description: z
    .string()
    .refine((value) => value.length <= 1024, 'must be at most 1024 characters')
    .meta({ description: 'One paragraph describing the API in the discovery documents.' })
    .optional(),
})

const idempotency = z.strictObject({
  enabled: z
    .boolean()
    .meta({
      description:
        'Answer paid retries (same Idempotency-Key, or the same credential) from a kept copy. Costs two ledger-store commands per paid request (claim, keep); off, a served paid request costs one.',
    })
    .default(true),
  ttlSeconds: integer({
    min: 1,
    max: 7 * 24 * 3600,
    description:
      'How long a paid answer is kept to replay to a retry with the same Idempotency-Key (or the same credential) instead of forwarding and charging it again.',
  }).default(24 * 3600),
  maxBodyBytes: integer({
    min: 0,
    max: 1024 * 1024,
    description:
      'Largest answer body kept for replay, in the ledger store; a retry of a larger answer is refused (idempotency-answer-unavailable), never charged again.',
  }).default(64 * 1024),
})

/** The field-level structure of gateway.yaml, before cross-field rules and amount conversion. */
export const configShape = z.strictObject({
  server,
  chain,
  payee,
  currency,
  session: session.prefault({}),
  tempoCharge: tempoCharge.prefault({}),
  ledger: ledger.prefault({}),
  settlement: settlement.prefault({}),
  discovery: discovery.prefault({}),
  admin: adminSchema.optional(),
  limits: limits.prefault({}),
  idempotency: idempotency
    .meta({ description: 'Paid retries answered from a stored copy, never charged twice.' })
    .prefault({}),
  upstreams,
  routes: z
    .array(route)
    .min(1, 'define at least one route')
    .meta({ description: 'Ordered route table; the first match wins.' }),
})

/** What the field-level structure yields: amounts still exact decimals, defaults filled in. */
export type ConfigShape = z.output<typeof configShape>
