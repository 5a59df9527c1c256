/**
 * Forwarding an admitted request and writing the upstream's answer, with the charge (if any)
 * decided at the upstream's head. This adapter only maps the forwarder's outcomes onto the
 * charge's two moments (gate/charge.ts): `atHead` when an upstream head arrived, `withoutHead`
 * when the exchange ended before one. The decision itself — commit, release, receipt — is the
 * charge's.
 *
 * | forwarder outcome                       | charge           | client gets                          |
 * | --------------------------------------- | ---------------- | ------------------------------------ |
 * | head arrived, delivered                 | atHead(status)   | upstream answer + receipt            |
 * | head arrived, commit refused            | atHead(status)   | problem + receipt (upstream aborted) |
 * | failed before a head (502/503/504/413/408) | withoutHead(err) | problem + receipt                 |
 * | client gone before a head               | withoutHead()    | nothing (socket gone)                |
 * | client gone after the head              | already decided  | the cut answer                       |
 *
 * A `failed` outcome includes a body that came too late (408) and a wait for an upstream
 * connection that ran out (503 `upstream-busy`): the upstream never answered, so under `charge:
 * on-success` nothing is charged.
 *
 * A shadow-mode request has no charge: the same moments only record what it would have been
 * charged (gate/shadow.ts), and every answer carries its `Payment-Shadow-Price`.
 */
import type { HttpBindings } from '@hono/node-server'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import type { Context } from 'hono'
import { GatewayError } from '../errors.js'
import type { Answer } from '../gate/answer.js'
import type { Charge } from '../gate/charge.js'
import type { Gate } from '../gate/gate.js'
import type { AnswerRecorder, RetryGuard } from '../gate/idempotency.js'
import { shadowCharge, shadowPriceHeader } from '../gate/shadow.js'
import { needsBody, priceAnswer } from '../pricing/metered.js'
import type { Route } from '../pricing/route-table.js'
import { forward, type ForwardOutcome } from '../upstream/forward.js'
import type { UpstreamPools } from '../upstream/pool.js'
import type { ProxyTrust } from '../upstream/trusted-proxies.js'
import type { PipelineParts } from '../app.js'
import { causeCode, type AccessEntry } from './access-log.js'
import { respond } from './respond.js'
import { guardRetry } from './retry.js'
import { sendContinue } from './serve.js'

export type RelayDeps = {
  readonly gate: Gate
  readonly upstreams: UpstreamPools
  readonly now: () => number
  /** How request bodies are received: `server.requestBodyTimeoutMs`, `server.bufferedBodyBytes`. */
  readonly requestBody: { readonly timeoutMs: number; readonly bufferBytes: number }
  /** `server.trustedProxies`. */
  readonly trustsPeer: ProxyTrust
  /** Paid retries answered from a stored copy; none when absent. */
  readonly retries?: RetryGuard | undefined
}

type Env = {
  Bindings: HttpBindings
  Variables: { entry: AccessEntry; cors: Record<string, string>; parts: PipelineParts }
}

/** The charge refused the answer at its head: the upstream is aborted, `answer` goes out instead. */
class Refused extends Error {
  constructor(readonly answer: Answer) {
    super('the charge refused the answer')
  }
}

/** What the gate admitted: the route, the raw target to forward, and the charge of a paid one. */
export type Admitted = {
  readonly route: Route
  readonly target: string
  readonly charge: Charge | undefined
}

export async function relay(
  c: Context<Env>,
  deps: RelayDeps,
  { route, target, charge }: Admitted,
  /** Shadow mode: the `Payment-Shadow-Price` of an unpaid request (gate/shadow.ts). */
  shadow?: string,
): Promise<Response> {
  const entry = c.get('entry')
  const { incoming, outgoing } = c.env
  const started = deps.now()
  // A paid answer on a metered route is priced from the answer; shadow and free ones are not.
  const metered = charge ? route.metered : undefined

  let recorder: AnswerRecorder | undefined
  let body: Buffer | undefined
  // Paid retries are a session's: a one-shot payment is single-use by its own claim.
  if (charge?.session && deps.retries) {
    const { session } = charge
    const guarded = await guardRetry(c, deps, { route, target, charge, session }, deps.retries)
    if (guarded.kind === 'answered') return guarded.response
    recorder = guarded.recorder
    body = guarded.body
  }
  // Set before relaying: for a streamed answer the access line can be written before `relay`
  // returns.
  entry.outcome = 'forwarded'

  let forwarded: ForwardOutcome | undefined
  try {
    return await forwardOnce()
  } finally {
    // Kept only when charged (and whole); otherwise the key is freed for the retry.
    if (recorder && charge) {
      await recorder
        .finish({
          charged: charged(charge),
          complete: forwarded?.kind === 'responded' && forwarded.completed,
        })
        .catch(() => undefined)
    }
  }

  async function forwardOnce(): Promise<Response> {
    let outcome: ForwardOutcome
    try {
      outcome = forwarded = await forward({
        upstream: deps.upstreams.get(route.upstream),
        request: incoming,
        response: outgoing,
        method: incoming.method ?? 'GET',
        // The target as the client wrote it (minus a fragment), or the route's upstream path for
        // it with the client's query (gate/gate.ts): exactly what was priced.
        path: target,
        requestId: entry.requestId,
        requestBody: deps.requestBody,
        trustedPeer: deps.trustsPeer(incoming.socket.remoteAddress),
        onBody: () => sendContinue(incoming, outgoing),
        body,
        observe: recorder && {
          head: (status, headers) => recorder.head(status, headers),
          chunk: (chunk) => recorder.chunk(chunk),
          // Kept before the last byte leaves, so a client that got the whole answer and retries
          // finds the copy, not the claim in flight.
          beforeEnd: () =>
            recorder.finish({ charged: charged(charge), complete: true }).catch(() => undefined),
        },
        ...(route.metered?.units.kind === 'header'
          ? { hideResponseHeaders: [route.metered.units.name] }
          : {}),
        ...(metered
          ? {
              holdBody: (headers) =>
                needsBody(metered, headers) ? metered.bufferBytes : undefined,
            }
          : {}),
        beforeHead: async (status, held) => {
          entry.upstreamStatus = status
          entry.upstreamMs = deps.now() - started
          // The gateway's id and CORS headers replace any the upstream answers with.
          const own = { ...c.get('cors'), 'x-request-id': entry.requestId }
          if (shadow !== undefined) {
            noteShadow(entry, route, status)
            return { ...own, [shadowPriceHeader]: shadow }
          }
          if (!charge) return own
          const price = metered ? priceAnswer(metered, route.price ?? 0n, held) : undefined
          const decision = await charge.atHead(status, price)
          noteCharge(entry, charge)
          if (decision.kind === 'refuse') throw new Refused(decision.answer)
          return { ...decision.headers, ...own }
        },
      })
    } catch (error) {
      if (error instanceof Refused) return answer(entry, error.answer)
      // The forwarder rejects only on a defect; nothing was delivered, so nothing is charged.
      const failure = new GatewayError('internal-error', 'The gateway failed to forward.', {
        cause: error,
      })
      return answer(entry, await failed(deps, route, charge, entry, failure), shadow)
    }

    switch (outcome.kind) {
      case 'failed':
        entry.upstreamError = causeCode(outcome.error)
        if (shadow !== undefined) noteShadow(entry, route, undefined)
        return answer(entry, await failed(deps, route, charge, entry, outcome.error), shadow)
      case 'aborted':
        if (shadow !== undefined && outcome.upstreamStatus === undefined)
          noteShadow(entry, route, undefined)
        if (charge && outcome.upstreamStatus === undefined) await charge.withoutHead(undefined)
        if (charge) noteCharge(entry, charge)
        entry.outcome = 'client-aborted'
        return RESPONSE_ALREADY_SENT
      case 'responded':
        entry.outcome = outcome.completed ? 'forwarded' : outcome.error.code
        return RESPONSE_ALREADY_SENT
    }
  }
}

async function failed(
  deps: RelayDeps,
  route: Route,
  charge: Charge | undefined,
  entry: AccessEntry,
  error: GatewayError,
): Promise<Answer> {
  if (!charge) return deps.gate.problem(error, route, entry.requestId)
  const answer = await charge.withoutHead(error)
  noteCharge(entry, charge)
  return answer ?? deps.gate.problem(error, route, entry.requestId)
}

function answer(entry: AccessEntry, answer: Answer, shadow?: string): Response {
  entry.outcome = answer.outcome
  // A body left unread (refused as too large or too late) ends the connection: the client's
  // next bytes would be the rest of it, not a request.
  const code = answer.error?.code
  const headers: Record<string, string> = { ...answer.headers }
  if (code === 'request-timeout' || code === 'body-too-large') headers.connection = 'close'
  if (shadow !== undefined) headers[shadowPriceHeader] = shadow
  return respond({ ...answer, headers })
}

/** Whether the charge made value spent (or may have: its commit's outcome is unknown). */
function charged(charge: Charge | undefined): boolean {
  const kind = charge?.resolution()?.kind
  return kind === 'committed' || kind === 'unknown'
}

function noteShadow(entry: AccessEntry, route: Route, upstreamStatus: number | undefined): void {
  entry.charge = 'shadow'
  entry.shadowCharge = shadowCharge(route, upstreamStatus).toString()
}

function noteCharge(entry: AccessEntry, charge: Charge): void {
  const resolution = charge.resolution()
  if (!resolution) return
  entry.charge = resolution.kind
  if (resolution.charged !== undefined) entry.charged = resolution.charged.toString()
  if (resolution.kind === 'committed' && resolution.priced) {
    entry.priceBasis = resolution.priced.basis
    if (resolution.priced.units !== undefined) entry.units = resolution.priced.units.toString()
  }
}
