/**
 * The admin API's HTTP face (docs/admin.md): a Hono app of its own, served on its own listener
 * (`admin:` in gateway.yaml), never on the payment port. It holds no business rules: each route
 * parses its input, calls one admin operation (admin/operations.ts) and answers JSON.
 *
 * Every request must present `Authorization: Bearer <admin.token>`. The token is compared by
 * hono's bearer-auth middleware in constant time (SHA-256 of both sides, then a full-length
 * comparison), and appears in no log line and no answer. Every failure is problem+json with a
 * stable code (docs/errors.md), `Cache-Control: no-store`; one log line per request records
 * method, path, status and duration — never a header.
 */
import { Hono } from 'hono'
import { bearerAuth } from 'hono/bearer-auth'
import { bodyLimit } from 'hono/body-limit'
import { HTTPException } from 'hono/http-exception'
import type { Logger } from 'pino'
import { isAddress, isHex, type Address, type Hex } from 'viem'
import { maxChannels, type AdminOperations, type ChannelSelection } from '../admin/operations.js'
import { GatewayError, problemBody, type ErrorCode } from '../errors.js'

/** `WWW-Authenticate` of a refused admin request. */
export const adminRealm = 'Bearer realm="mpp-gateway admin"'

function problem(error: GatewayError, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(problemBody(error)), {
    status: error.status,
    headers: {
      'content-type': 'application/problem+json',
      'cache-control': 'no-store',
      ...(error.retryAfter === undefined ? {} : { 'retry-after': String(error.retryAfter) }),
      ...headers,
    },
  })
}

const failure = (code: ErrorCode, detail: string) => new GatewayError(code, detail)

/** The only body the API takes is a block's `{"reason": …}` (≤ 200 characters). */
const maxBodyBytes = 4096

const unauthorized = () =>
  problem(failure('admin-unauthorized', 'This request needs the admin bearer token.'), {
    'www-authenticate': adminRealm,
  })

function channelIdOf(text: string): Hex {
  if (!isHex(text) || text.length !== 66) {
    throw failure('admin-bad-request', 'A channel id is 0x followed by 64 hex digits.')
  }
  return text.toLowerCase() as Hex
}

function payerOf(text: string): Address {
  if (!isAddress(text, { strict: false })) {
    throw failure('admin-bad-request', 'A payer is an address: 0x followed by 40 hex digits.')
  }
  return text.toLowerCase() as Address
}

function limitOf(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback
  const limit = /^\d{1,6}$/.test(text) ? Number(text) : Number.NaN
  if (!(limit >= 1 && limit <= maxChannels)) {
    throw failure('admin-bad-request', `limit must be a whole number from 1 to ${maxChannels}.`)
  }
  return limit
}

function selectionOf(text: string | undefined): ChannelSelection {
  if (text === undefined || text === 'open' || text === 'unsettled') return text ?? 'open'
  throw failure('admin-bad-request', 'state must be open or unsettled.')
}

/** The optional body of a block: `{"reason": "…"}` (at most 200 characters, one line). */
async function reasonOf(request: Request): Promise<string | undefined> {
  const text = await request.text()
  if (text.trim() === '') return undefined
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw failure('admin-bad-request', 'The body must be JSON: {"reason": "…"}.')
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw failure('admin-bad-request', 'The body must be a JSON object: {"reason": "…"}.')
  }
  const { reason, ...rest } = body as { reason?: unknown }
  if (Object.keys(rest).length > 0) {
    throw failure('admin-bad-request', 'The body takes only "reason".')
  }
  if (reason === undefined) return undefined
  if (typeof reason !== 'string' || reason.length > 200 || /[\r\n\0]/.test(reason)) {
    throw failure('admin-bad-request', 'reason must be one line of at most 200 characters.')
  }
  return reason
}

export function createAdminApp(options: {
  readonly token: string
  readonly operations: AdminOperations
  readonly logger: Logger
  readonly now: () => number
}): Hono {
  const { operations: ops, logger } = options
  const app = new Hono()

  app.use('*', async (c, next) => {
    const startedAt = options.now()
    await next()
    c.header('cache-control', 'no-store')
    logger.info(
      {
        method: c.req.method,
        path: c.req.path.slice(0, 200),
        status: c.res.status,
        durationMs: options.now() - startedAt,
      },
      'admin request',
    )
  })
  app.use(
    '*',
    bearerAuth({
      token: options.token,
      noAuthenticationHeader: { message: unauthorized },
      invalidAuthenticationHeader: { message: unauthorized },
      invalidToken: { message: unauthorized },
    }),
  )

  app.get('/v1/channels', async (c) =>
    c.json(
      await ops.listChannels({
        selection: selectionOf(c.req.query('state')),
        limit: limitOf(c.req.query('limit'), 1_000),
      }),
    ),
  )
  app.get('/v1/channels/:id', async (c) => {
    const view = await ops.inspectChannel(channelIdOf(c.req.param('id')))
    if (!view) throw failure('admin-not-found', 'The ledger knows no channel with this id.')
    return c.json(view)
  })
  app.post('/v1/channels/:id/settle', async (c) => {
    const result = await ops.settleChannel(channelIdOf(c.req.param('id')))
    if (!result) throw failure('admin-not-found', 'The ledger knows no channel with this id.')
    return c.json(result)
  })
  app.post('/v1/settle', async (c) =>
    c.json(await ops.settleAll(limitOf(c.req.query('limit'), 1_000))),
  )
  app.get('/v1/payers/blocked', async (c) =>
    c.json(await ops.blockedPayers(limitOf(c.req.query('limit'), 1_000))),
  )
  app.get('/v1/payers/:address', async (c) =>
    c.json(await ops.payer(payerOf(c.req.param('address')))),
  )
  app.put(
    '/v1/payers/:address/block',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: () => {
        throw failure('admin-bad-request', `The body may hold at most ${maxBodyBytes} bytes.`)
      },
    }),
    async (c) => {
      const payer = payerOf(c.req.param('address'))
      return c.json(await ops.blockPayer(payer, await reasonOf(c.req.raw)))
    },
  )
  app.delete('/v1/payers/:address/block', async (c) =>
    c.json(await ops.unblockPayer(payerOf(c.req.param('address')))),
  )

  app.notFound(() => problem(failure('admin-not-found', 'No admin endpoint at this path.')))
  app.onError((error) => {
    if (error instanceof GatewayError) return problem(error)
    // bearer-auth throws an HTTPException carrying the answer built above.
    if (error instanceof HTTPException) return error.getResponse()
    logger.error({ err: error }, 'admin request failed')
    return problem(failure('internal-error', 'The admin request failed inside the gateway.'))
  })
  return app
}
