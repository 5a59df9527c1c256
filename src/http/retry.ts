/**
 * The HTTP side of paid retries (the rules are gate/idempotency.ts): read the retry key and, when
 * there is one, the request body whole to fingerprint it, then either answer here — the stored
 * copy, or a refusal — with the reservation released, or let the request be forwarded with the
 * body already read and a recorder of what the client is sent.
 *
 * A body is fingerprinted only when it is read whole anyway (no body, or a Content-Length of at
 * most `server.bufferedBodyBytes`): an `Idempotency-Key` on any other body is refused
 * (`idempotency-key-invalid`), and a credential on one is not deduplicated.
 */
import type { HttpBindings } from '@hono/node-server'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import type { Context } from 'hono'
import { GatewayError } from '../errors.js'
import type { Answer } from '../gate/answer.js'
import type { Charge } from '../gate/charge.js'
import {
  fingerprintOf,
  retryKeyOf,
  type AnswerRecorder,
  type RetryGuard,
} from '../gate/idempotency.js'
import type { Route } from '../pricing/route-table.js'
import { readWholeBody, requestTimeout } from '../upstream/request-body.js'
import type { PipelineParts } from '../app.js'
import type { SessionOutcome } from '../session/dispatch.js'
import type { AccessEntry } from './access-log.js'
import { respond } from './respond.js'
import { sendContinue } from './serve.js'

type Env = {
  Bindings: HttpBindings
  Variables: { entry: AccessEntry; cors: Record<string, string>; parts: PipelineParts }
}

export type Guarded =
  | { readonly kind: 'answered'; readonly response: Response }
  | {
      readonly kind: 'forward'
      readonly recorder: AnswerRecorder | undefined
      readonly body: Buffer | undefined
    }

const forwardAsIs: Guarded = { kind: 'forward', recorder: undefined, body: undefined }

export async function guardRetry(
  c: Context<Env>,
  deps: {
    readonly requestBody: { readonly timeoutMs: number; readonly bufferBytes: number }
    readonly now: () => number
  },
  admitted: {
    readonly route: Route
    readonly target: string
    readonly charge: Charge
    readonly session: SessionOutcome
  },
  retries: RetryGuard,
): Promise<Guarded> {
  const entry = c.get('entry')
  const { incoming, outgoing } = c.env
  const { charge, route } = admitted
  const credentialHeader = (route.credentialHeader ?? 'authorization').toLowerCase()
  const credential = incoming.headers[credentialHeader]
  const key = retryKeyOf({
    idempotencyKey: incoming.headers['idempotency-key'],
    credential: typeof credential === 'string' ? credential : undefined,
  })
  if (key.kind === 'none') return forwardAsIs
  const refuse = async (error: GatewayError): Promise<Guarded> => {
    const { answer } = await charge.cancel(error)
    return { kind: 'answered', response: answered(entry, answer!) }
  }
  if (key.kind === 'invalid') {
    return refuse(
      new GatewayError(
        'idempotency-key-invalid',
        'Idempotency-Key must be one value of 1 to 255 visible ASCII characters.',
      ),
    )
  }

  const length = incoming.headers['content-length']
  const declared = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined
  const hasBody =
    declared !== undefined ? declared > 0 : incoming.headers['transfer-encoding'] !== undefined
  let body: Buffer = Buffer.alloc(0)
  if (hasBody) {
    if (declared === undefined || declared > deps.requestBody.bufferBytes) {
      if (!key.explicit) return forwardAsIs
      return refuse(
        new GatewayError(
          'idempotency-key-invalid',
          `A request with Idempotency-Key must declare a Content-Length of at most ${deps.requestBody.bufferBytes} bytes, so its body can be fingerprinted.`,
          { details: { maxBodyBytes: deps.requestBody.bufferBytes } },
        ),
      )
    }
    sendContinue(incoming, outgoing)
    const gone = new AbortController()
    const onClose = () => {
      if (!outgoing.writableFinished) gone.abort()
    }
    outgoing.once('close', onClose)
    const read = await readWholeBody({
      request: incoming,
      timeoutMs: deps.requestBody.timeoutMs,
      gone: gone.signal,
    }).finally(() => outgoing.off('close', onClose))
    if (read.kind === 'gone') {
      await charge.cancel()
      entry.outcome = 'client-aborted'
      return { kind: 'answered', response: RESPONSE_ALREADY_SENT }
    }
    if (read.kind === 'late') return refuse(requestTimeout(deps.requestBody.timeoutMs))
    body = read.body
  }

  const fingerprint = fingerprintOf({
    method: incoming.method ?? 'GET',
    target: admitted.target,
    body,
  })
  const expiresAt = admitted.session.reservation?.expiresAt
  let decision
  try {
    decision = await retries.check({
      channelId: admitted.session.channelId,
      key,
      fingerprint,
      owner: entry.requestId,
      holdMs: expiresAt === undefined ? 60_000 : Math.max(1_000, expiresAt - deps.now()),
    })
  } catch (error) {
    return refuse(
      error instanceof GatewayError
        ? error
        : new GatewayError('internal-error', 'The retry check failed.', { cause: error }),
    )
  }
  switch (decision.kind) {
    case 'forward':
      return { kind: 'forward', recorder: decision.recorder, body }
    case 'refuse':
      return refuse(decision.error)
    case 'replay': {
      // The answer the first request got, not charged again: the receipt shows `spent` unchanged.
      const { receipt } = await charge.cancel()
      entry.outcome = 'replayed'
      const { status, headers, body: stored } = decision.answer
      const replayed = new Headers()
      for (const [name, value] of Object.entries(headers)) {
        for (const one of typeof value === 'string' ? [value] : value) replayed.append(name, one)
      }
      if (receipt !== undefined) replayed.set('payment-receipt', receipt)
      replayed.set('idempotent-replayed', 'true')
      const bytes = Buffer.from(stored, 'base64')
      return {
        kind: 'answered',
        response: new Response(status === 204 || status === 304 ? null : bytes, {
          status,
          headers: replayed,
        }),
      }
    }
  }
}

function answered(entry: AccessEntry, answer: Answer): Response {
  entry.outcome = answer.outcome
  return respond(answer)
}
