/**
 * Forwards one paid request to its upstream with undici and streams the answer straight into the
 * Node `ServerResponse`, both bodies streamed with backpressure and never buffered whole.
 *
 * The exchange moves through these phases: `waiting` (request sent, no upstream head yet) →
 * [`holding` (upstream head received, body held up to `holdBody`'s bound, when the price is in
 * it)] → `deciding` (`beforeHead` running, upstream paused) → `streaming` (our head written, the
 * held bytes then the rest relayed) → `settled` (the returned promise is resolved or rejected).
 * While holding, nothing has been decided: an upstream failure is `failed` and a client leaving
 * is `aborted` without an upstream status, exactly as while waiting.
 *
 * The charge boundary (the gateway relies on it; see docs/DESIGN.md):
 * - `beforeHead(status)` is called at most once, exactly when the upstream's final (non-1xx)
 *   response head has arrived and the client is still connected. It is never called when the
 *   request is refused up front (body too large), when the upstream cannot be reached or times
 *   out before its head, or when the client left before the head. So: `failed` ⇒ never called;
 *   `aborted` with `upstreamStatus: undefined` ⇒ never called; `responded` ⇒ called once.
 *   `aborted` with an `upstreamStatus` ⇒ called, but the client left before our head was written.
 * - Once `beforeHead` has been called the outcome is never `failed`: the charge was decided for
 *   that upstream status, so an upstream failure from then on writes the head and cuts the body
 *   (`responded`, `completed: false`) rather than pretending nothing happened.
 * - The promise rejects only when `beforeHead` throws or rejects (its error is passed through,
 *   the upstream request is aborted, nothing is written), or on a programming error: a `path`
 *   not starting with `/`, a head that cannot be written, a request undici refuses. Upstream and
 *   client failures are values.
 *
 * Client abort: the response closing before it finished, or `signal` aborting, aborts the
 * upstream request at once, whatever the phase (even while the request waits for a free slot).
 *
 * Deadlines, so that neither a client nor an upstream can hold a connection for as long as it
 * likes (each is a `failed` outcome before our head, a cut answer after it):
 * - the request body: `requestBody.timeoutMs` from the moment it is asked for (408
 *   `request-timeout`); a body whose Content-Length is at most `requestBody.bufferBytes` is read
 *   whole before a connection is taken (upstream/request-body.ts says why);
 * - a free connection: the upstream's `queueTimeoutMs` (503 `upstream-busy`, pool.ts);
 * - the upstream's head: `headersTimeoutMs`; silence in its body: `bodyTimeoutMs`; the whole
 *   answer: `responseTimeoutMs` (504 `upstream-timeout`, or a cut body).
 * The body is asked for (`onBody`, where the HTTP layer sends `100 Continue`) only here, once the
 * request was admitted: a refused request never makes a client upload its body.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Dispatcher } from 'undici'
import { GatewayError } from '../errors.js'
import { forwardRequestHeaders, responseHeaders, type UpstreamHeaderValue } from './headers.js'
import type { Upstream, UpstreamSpec } from './pool.js'
import { limitedBody, readWholeBody, requestTimeout } from './request-body.js'

/** Options of {@link forward}. */
export type ForwardOptions = {
  /** The upstream to call, from `UpstreamPools.get(name)`. */
  readonly upstream: Upstream
  /** The client's request; its body is streamed to the upstream and must not have been read. */
  readonly request: IncomingMessage
  /** The client's response; `forward` writes the whole answer into it (or nothing, on `failed`). */
  readonly response: ServerResponse
  readonly method: string
  /**
   * Path and query to request, in origin form (starting with `/`), appended verbatim to the
   * upstream's base path. Pass the target the gate admitted (gate/target.ts: the client's bytes,
   * without a fragment, routed only when free of dot segments), not `IncomingMessage.url`.
   */
  readonly path: string
  /**
   * Aborts the exchange from outside (the response closing early always does); optional, since
   * the gateway relies on the response alone.
   */
  readonly signal?: AbortSignal
  /**
   * Decides the charge once the upstream status is known; returns headers to add to the
   * response head (Payment-Receipt, Cache-Control, …), replacing upstream headers of the same name.
   */
  readonly beforeHead: (
    upstreamStatus: number,
    answer: HeldAnswer,
  ) => Promise<Record<string, string>>
  /**
   * How many body bytes to hold before `beforeHead` for an answer with these headers (a price
   * read from the body), or `undefined` to decide at the head alone. The body is held until it
   * ends or outgrows the bound; an upstream failure or a client leaving meanwhile ends the
   * exchange as before a head (`failed` / `aborted`, `beforeHead` never called).
   */
  readonly holdBody?: (headers: Readonly<Record<string, UpstreamHeaderValue>>) => number | undefined
  /**
   * The request body, already read whole by the caller (to fingerprint it); sent as is, and the
   * client's stream is not read again.
   */
  readonly body?: Buffer | undefined
  /** Sees exactly what the client is sent: our head, then each body chunk (to keep a copy). */
  readonly observe?:
    | {
        head(status: number, headers: Readonly<Record<string, string | string[]>>): void
        chunk(chunk: Buffer): void
        /** The whole body was relayed; awaited before the response ends (errors ignored). */
        beforeEnd?(): Promise<void>
      }
    | undefined
  /** Upstream response headers the client never sees (lower-case names). */
  readonly hideResponseHeaders?: readonly string[] | undefined
  /** Scheme for X-Forwarded-Proto; defaults to the client socket's (https when TLS). */
  readonly proto?: 'http' | 'https'
  /** The gateway's id of this request, sent to the upstream as X-Request-Id. */
  readonly requestId?: string
  /** The peer is a trusted proxy (its forwarding headers pass; see headers.ts). */
  readonly trustedPeer?: boolean
  /** The request body's deadline and the size up to which it is read whole; none by default. */
  readonly requestBody?: { readonly timeoutMs: number; readonly bufferBytes: number }
  /** Called once, just before the request body is first read (the place for `100 Continue`). */
  readonly onBody?: () => void
}

/** The upstream's answer as `beforeHead` sees it: its head, and the body held if any. */
export type HeldAnswer = {
  readonly headers: Readonly<Record<string, UpstreamHeaderValue>>
  /** The body held (`holdBody`); `complete: false` when it outgrew the bound. */
  readonly body?: { readonly bytes: Buffer; readonly complete: boolean } | undefined
}

/** How a forward ended. Upstream and client failures are values; see the module header. */
export type ForwardOutcome =
  /** Our head was written; `beforeHead` was called once. `bytesOut` counts body bytes written. */
  | {
      readonly kind: 'responded'
      readonly status: number
      readonly bytesOut: number
      readonly completed: true
    }
  /** As above, but the upstream failed mid-body: the client socket was destroyed. */
  | {
      readonly kind: 'responded'
      readonly status: number
      readonly bytesOut: number
      readonly completed: false
      readonly error: GatewayError
    }
  /** Nothing was written and `beforeHead` was never called: render `error` as problem+json. */
  | { readonly kind: 'failed'; readonly error: GatewayError; readonly headSent: false }
  /** The client left. `upstreamStatus` is set iff `beforeHead` was called. */
  | {
      readonly kind: 'aborted'
      readonly headSent: boolean
      readonly upstreamStatus: number | undefined
      readonly bytesOut: number
    }

type Phase = 'waiting' | 'holding' | 'deciding' | 'streaming' | 'settled'

/**
 * Forwards the request to the upstream and streams the answer into `response`. Resolves once
 * the response has finished (or was cut or abandoned); see {@link ForwardOutcome}.
 */
export function forward(options: ForwardOptions): Promise<ForwardOutcome> {
  if (!options.path.startsWith('/')) {
    return Promise.reject(new TypeError(`forward: path must start with '/': ${options.path}`))
  }
  const { spec } = options.upstream
  const declared = declaredLength(options.request.headers['content-length'])
  if (declared !== undefined && declared > spec.maxRequestBodyBytes) {
    return Promise.resolve({ kind: 'failed', error: bodyTooLarge(spec), headSent: false })
  }
  if (options.signal?.aborted || options.response.destroyed) return Promise.resolve(goneEarly)
  return run(options, declared)
}

const goneEarly: ForwardOutcome = {
  kind: 'aborted',
  headSent: false,
  upstreamStatus: undefined,
  bytesOut: 0,
}

/** Body (read whole, when small), then a slot, then the exchange, which gives the slot back. */
async function run(options: ForwardOptions, declared: number | undefined): Promise<ForwardOutcome> {
  const { request, upstream } = options
  const { spec } = upstream
  const hasBody =
    declared !== undefined ? declared > 0 : request.headers['transfer-encoding'] !== undefined
  const bodyTimeoutMs = options.requestBody?.timeoutMs
  const gone = clientGone(options)
  try {
    let whole: Buffer | undefined = options.body
    if (
      whole === undefined &&
      hasBody &&
      declared !== undefined &&
      declared <= (options.requestBody?.bufferBytes ?? 0)
    ) {
      options.onBody?.()
      const read = await readWholeBody({
        request,
        timeoutMs: bodyTimeoutMs ?? 2 ** 31 - 1,
        gone: gone.signal,
      })
      if (read.kind === 'gone') return goneEarly
      if (read.kind === 'late') {
        return { kind: 'failed', error: requestTimeout(bodyTimeoutMs ?? 0), headSent: false }
      }
      whole = read.body
    }
    const slot = await upstream.slots.take(spec.queueTimeoutMs, gone.signal)
    if (slot === 'aborted') return goneEarly
    if (slot === 'busy') return { kind: 'failed', error: busy(spec), headSent: false }
    try {
      return await new Promise<ForwardOutcome>((resolve, reject) => {
        exchange({
          options,
          body: whole ?? (hasBody ? 'stream' : undefined),
          bodyTimeoutMs,
          gone: gone.signal,
          resolve,
          reject,
        })
      })
    } finally {
      slot()
    }
  } finally {
    gone.dispose()
  }
}

/** A signal that aborts when the client leaves: `signal` aborts or the response closes early. */
function clientGone(options: ForwardOptions): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController()
  const { response, signal } = options
  const onAbort = () => controller.abort()
  const onClose = () => {
    if (!response.writableFinished) controller.abort()
  }
  signal?.addEventListener('abort', onAbort, { once: true })
  response.on('close', onClose)
  return {
    signal: controller.signal,
    dispose() {
      signal?.removeEventListener('abort', onAbort)
      response.off('close', onClose)
    },
  }
}

type ExchangeOptions = {
  readonly options: ForwardOptions
  /** The body read whole, `stream` to stream the request, or none. */
  readonly body: Buffer | 'stream' | undefined
  readonly bodyTimeoutMs: number | undefined
  /** Aborts when the client leaves. */
  readonly gone: AbortSignal
  readonly resolve: (outcome: ForwardOutcome) => void
  readonly reject: (error: unknown) => void
}

function exchange({ options, body, bodyTimeoutMs, gone, resolve, reject }: ExchangeOptions): void {
  const { upstream, request, response } = options
  const { spec } = upstream

  let phase: Phase = 'waiting'
  let controller: Dispatcher.DispatchController | undefined
  let clientGone = false
  let status: number | undefined
  let bytesOut = 0
  let upstreamEnded = false
  let upstreamError: Error | undefined
  /** Why the streamed request body failed (too large, too late), once it has. */
  let bodyFailure: GatewayError | undefined
  /** Answer body bytes received before our head; written right after it. */
  let held: Buffer[] = []
  let heldBytes = 0
  let holdLimit: number | undefined
  let upstreamHeaders: Readonly<Record<string, UpstreamHeaderValue>> = {}

  // A streamed body goes through our own stream, never the IncomingMessage itself: undici
  // destroys its body stream when the exchange fails, and destroying an unfinished
  // IncomingMessage would kill the client socket before a 502/504/413/408 could be written.
  const streamed =
    body === 'stream'
      ? limitedBody({
          max: spec.maxRequestBodyBytes,
          timeoutMs: bodyTimeoutMs,
          tooLarge: () => (bodyFailure = bodyTooLarge(spec)),
          late: () => (bodyFailure = requestTimeout(bodyTimeoutMs ?? 0)),
        })
      : undefined
  if (streamed !== undefined) {
    options.onBody?.()
    request.pipe(streamed)
  }
  // The whole answer must be in by then, however steadily an upstream trickles it.
  let overdue: GatewayError | undefined
  const deadline = setTimeout(() => {
    overdue = new GatewayError(
      'upstream-timeout',
      `the upstream did not finish its answer within ${spec.responseTimeoutMs} ms`,
      { details: { upstream: spec.name } },
    )
    controller?.abort(overdue)
  }, spec.responseTimeoutMs)

  const cleanup = (): void => {
    clearTimeout(deadline)
    gone.removeEventListener('abort', onClientGone)
    response.off('drain', onDrain)
    response.off('finish', onFinish)
    if (streamed !== undefined && !streamed.destroyed) {
      request.unpipe(streamed)
      streamed.destroy()
    }
  }
  const settle = (outcome: ForwardOutcome): void => {
    if (phase === 'settled') return
    phase = 'settled'
    cleanup()
    resolve(outcome)
  }
  const settleRejected = (error: unknown): void => {
    if (phase === 'settled') return
    phase = 'settled'
    cleanup()
    reject(error)
  }
  /** Head written, upstream failed: the only honest signal left is to cut the response. */
  const cut = (cause: Error): void => {
    const error = bodyFailure ?? upstreamFailure(spec, cause) ?? unavailable(spec, cause)
    settle({ kind: 'responded', status: status ?? 502, bytesOut, completed: false, error })
    response.destroy()
  }

  const settleAborted = (): void => {
    if (phase === 'waiting' || phase === 'holding') {
      settle({ kind: 'aborted', headSent: false, upstreamStatus: undefined, bytesOut })
    } else if (phase === 'streaming') {
      settle({ kind: 'aborted', headSent: true, upstreamStatus: status, bytesOut })
    }
    // 'deciding': settled when beforeHead settles, so the hook never outlives forward().
  }

  function onClientGone(): void {
    if (clientGone) return
    clientGone = true
    // Settle before aborting: undici reports the abort back synchronously via onResponseError.
    settleAborted()
    controller?.abort(clientAbort())
  }
  function onDrain(): void {
    controller?.resume()
  }
  function onFinish(): void {
    if (phase === 'streaming' && status !== undefined) {
      settle({ kind: 'responded', status, bytesOut, completed: true })
    }
  }

  const writeHead = (
    c: Dispatcher.DispatchController,
    headers: Record<string, UpstreamHeaderValue>,
    extra: Record<string, string>,
  ): void => {
    if (clientGone || status === undefined) {
      settle({ kind: 'aborted', headSent: false, upstreamStatus: status, bytesOut })
      return
    }
    try {
      const head = responseHeaders({ upstream: headers, extra, hide: options.hideResponseHeaders })
      response.writeHead(status, head)
      options.observe?.head(status, head)
    } catch (error) {
      c.abort(error instanceof Error ? error : new Error(String(error)))
      settleRejected(error)
      return
    }
    phase = 'streaming'
    const flushed = held
    held = []
    let full = false
    for (const chunk of flushed) {
      bytesOut += chunk.length
      options.observe?.chunk(chunk)
      full = !response.write(chunk) || full
    }
    if (upstreamError !== undefined) cut(upstreamError)
    else if (upstreamEnded) endResponse()
    else if (!full) c.resume()
  }

  /** The last byte leaves only once the observer recorded the whole answer (a kept copy). */
  const endResponse = (): void => {
    const observe = options.observe
    if (!observe?.beforeEnd) return void response.end()
    observe.beforeEnd().then(
      () => response.end(),
      () => response.end(),
    )
  }

  /** The head is known (and the body held, if asked): decide, then write our head. */
  const decide = (c: Dispatcher.DispatchController, answer: HeldAnswer): void => {
    phase = 'deciding'
    const refuse = (error: unknown): void => {
      c.abort(error instanceof Error ? error : new Error(String(error)))
      settleRejected(error)
    }
    // Never let the hook throw into undici's parser callback, even synchronously.
    let decision: Promise<Record<string, string>>
    try {
      decision = options.beforeHead(status!, answer)
    } catch (error) {
      refuse(error)
      return
    }
    decision.then((extra) => writeHead(c, upstreamHeaders, extra), refuse).catch(refuse)
  }
  const heldAnswer = (complete: boolean): HeldAnswer => ({
    headers: upstreamHeaders,
    body: { bytes: Buffer.concat(held), complete },
  })

  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(c) {
      controller = c
      if (clientGone) c.abort(clientAbort())
      else if (overdue) c.abort(overdue)
    },
    onResponseStart(c, statusCode, headers) {
      if (statusCode < 200 || phase !== 'waiting') return
      status = statusCode
      upstreamHeaders = headers
      holdLimit = options.holdBody?.(headers)
      if (holdLimit !== undefined) {
        // The price is in the body: hold it (at most holdLimit bytes) before deciding. Nothing
        // reaches the client until then, exactly as when deciding at the head.
        phase = 'holding'
        return
      }
      // Why pause: the charge must be decided before a byte of the answer reaches the client,
      // and nothing may be written before our own head. undici holds the body until resume().
      c.pause()
      decide(c, { headers })
    },
    onResponseData(c, chunk) {
      if (phase === 'holding' || phase === 'deciding') {
        // Bytes that arrive while deciding (after a pause took effect late) wait for the head.
        held.push(chunk)
        heldBytes += chunk.length
        if (phase === 'holding' && heldBytes > holdLimit!) {
          c.pause()
          decide(c, heldAnswer(false))
        }
        return
      }
      if (phase !== 'streaming') return
      bytesOut += chunk.length
      options.observe?.chunk(chunk)
      if (!response.write(chunk)) c.pause()
    },
    onResponseEnd(c) {
      upstreamEnded = true
      if (phase === 'holding') decide(c, heldAnswer(true))
      else if (phase === 'streaming') endResponse()
    },
    onResponseError(_c, error) {
      if (clientGone) return settleAborted()
      switch (phase) {
        case 'settled':
          return
        case 'deciding':
          upstreamError = error
          return
        case 'streaming':
          cut(error)
          return
        case 'holding':
        // The body broke off before it was priced: no head was decided, so this ends like an
        // upstream failure before its head.
        case 'waiting': {
          if (bodyFailure) return settle({ kind: 'failed', error: bodyFailure, headSent: false })
          const failure = upstreamFailure(spec, error)
          if (failure === undefined) return settleRejected(error)
          return settle({ kind: 'failed', error: failure, headSent: false })
        }
      }
    },
  }

  gone.addEventListener('abort', onClientGone, { once: true })
  response.on('drain', onDrain)
  response.on('finish', onFinish)
  // The client may have left while the slot was handed over.
  if (gone.aborted) return onClientGone()

  upstream.pool.dispatch(
    {
      path: upstream.basePath + options.path,
      method: options.method,
      headers: forwardRequestHeaders({
        rawHeaders: request.rawHeaders,
        clientAddress: request.socket.remoteAddress,
        proto: options.proto ?? (isTls(request) ? 'https' : 'http'),
        inject: spec.headers,
        trustedPeer: options.trustedPeer === true,
        ...(options.requestId === undefined ? {} : { requestId: options.requestId }),
      }),
      body: streamed ?? body ?? null,
      headersTimeout: spec.headersTimeoutMs,
      bodyTimeout: spec.bodyTimeoutMs,
    },
    handler,
  )
}

/**
 * The GatewayError for a failed upstream exchange, or `undefined` when undici refused the
 * request itself (invalid argument): a bug, not an upstream failure.
 */
function upstreamFailure(spec: UpstreamSpec, cause: Error): GatewayError | undefined {
  if (cause instanceof GatewayError) return cause
  const details = { upstream: spec.name }
  switch ((cause as { code?: unknown }).code) {
    case 'UND_ERR_INVALID_ARG':
    case 'UND_ERR_NOT_SUPPORTED':
    case 'UND_ERR_INVALID_RETURN_VALUE':
      return undefined
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new GatewayError(
        'upstream-timeout',
        `no connection to the upstream within ${spec.connectTimeoutMs} ms`,
        { details, cause },
      )
    case 'UND_ERR_HEADERS_TIMEOUT':
      return new GatewayError(
        'upstream-timeout',
        `the upstream did not answer within ${spec.headersTimeoutMs} ms`,
        { details, cause },
      )
    case 'UND_ERR_BODY_TIMEOUT':
      return new GatewayError(
        'upstream-timeout',
        `the upstream stalled for ${spec.bodyTimeoutMs} ms while sending its body`,
        { details, cause },
      )
    case 'ETIMEDOUT':
      return new GatewayError('upstream-timeout', 'the connection to the upstream timed out', {
        details,
        cause,
      })
    default:
      return unavailable(spec, cause)
  }
}

function unavailable(spec: UpstreamSpec, cause: Error): GatewayError {
  return new GatewayError('upstream-unavailable', 'the upstream could not be reached', {
    details: { upstream: spec.name },
    cause,
  })
}

function busy(spec: UpstreamSpec): GatewayError {
  return new GatewayError(
    'upstream-busy',
    `every connection to the upstream stayed busy for ${spec.queueTimeoutMs} ms`,
    { details: { upstream: spec.name }, retryAfter: 1 },
  )
}

function bodyTooLarge(spec: UpstreamSpec): GatewayError {
  return new GatewayError(
    'body-too-large',
    `the request body exceeds ${spec.maxRequestBodyBytes} bytes`,
    { details: { limit: spec.maxRequestBodyBytes } },
  )
}

function clientAbort(): Error {
  return new Error('the client closed the connection')
}

/** Content-Length as a number; `undefined` when absent or not a plain decimal. */
function declaredLength(header: string | undefined): number | undefined {
  if (header === undefined || !/^\d+$/.test(header)) return undefined
  return Number(header)
}

function isTls(request: IncomingMessage): boolean {
  return (request.socket as { encrypted?: boolean }).encrypted === true
}
