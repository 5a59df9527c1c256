/**
 * The client's request body on its way to the upstream, under two limits: its size
 * (`maxRequestBodyBytes`) and its deadline (`server.requestBodyTimeoutMs`, counted from the
 * moment the gateway asks for the body).
 *
 * Why small bodies are read whole first: a body that trickles in holds whatever waits for it.
 * Streamed, it holds one of the upstream's few connections for as long as the client likes, and
 * a few dozen slow clients take them all (paid traffic included). Read whole before a connection
 * is taken, it holds only the client's own socket, and a late body is answered `408
 * request-timeout` without the upstream ever seeing the request. Bodies whose declared length is
 * above `bufferBytes`, and chunked ones, are streamed so memory stays bounded; they hold a
 * connection while they flow, and the deadline bounds that.
 */
import type { IncomingMessage } from 'node:http'
import { Transform } from 'node:stream'
import { GatewayError } from '../errors.js'

/** How reading a whole body ended. */
export type WholeBody =
  | { readonly kind: 'read'; readonly body: Buffer }
  /** The deadline passed first. */
  | { readonly kind: 'late' }
  /** The client left (or `gone` aborted) first. */
  | { readonly kind: 'gone' }

/**
 * Reads the whole body of `request` (its Content-Length is known and small). Never rejects; a
 * request error is the client leaving.
 */
export function readWholeBody(options: {
  readonly request: IncomingMessage
  readonly timeoutMs: number
  readonly gone: AbortSignal
}): Promise<WholeBody> {
  const { request, gone } = options
  if (gone.aborted) return Promise.resolve({ kind: 'gone' })
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const finish = (outcome: WholeBody) => {
      clearTimeout(timer)
      request.off('data', onData)
      request.off('end', onEnd)
      request.off('error', onGone)
      request.off('close', onClose)
      gone.removeEventListener('abort', onGone)
      // Stop reading a late body: the answer is 408 and the connection is closed after it.
      if (outcome.kind !== 'read') request.pause()
      resolve(outcome)
    }
    const onData = (chunk: Buffer) => chunks.push(chunk)
    const onEnd = () => finish({ kind: 'read', body: Buffer.concat(chunks) })
    const onGone = () => finish({ kind: 'gone' })
    const onClose = () => {
      if (!request.complete) onGone()
    }
    const timer = setTimeout(() => finish({ kind: 'late' }), options.timeoutMs)
    request.on('data', onData)
    request.once('end', onEnd)
    request.once('error', onGone)
    request.once('close', onClose)
    gone.addEventListener('abort', onGone, { once: true })
  })
}

/**
 * The stream a streamed body goes through on its way to undici: counts the bytes and fails with
 * `tooLarge()` past `max`, and with `late()` when the body has not ended `timeoutMs` after it was
 * created. The error reaches undici, which aborts the upstream request (before its head: a
 * `failed` 413 or 408).
 */
export function limitedBody(options: {
  readonly max: number
  readonly timeoutMs: number | undefined
  readonly tooLarge: () => GatewayError
  readonly late: () => GatewayError
}): Transform {
  let seen = 0
  let timer: NodeJS.Timeout | undefined
  const limiter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length
      if (seen > options.max) callback(options.tooLarge())
      else callback(null, chunk)
    },
    flush(callback) {
      clearTimeout(timer)
      callback()
    },
    destroy(error, callback) {
      clearTimeout(timer)
      callback(error)
    },
  })
  if (options.timeoutMs !== undefined) {
    timer = setTimeout(() => limiter.destroy(options.late()), options.timeoutMs)
  }
  // undici listens for errors once it owns the body; until then, an error must not crash us.
  limiter.on('error', () => {})
  return limiter
}

/** The answer to a body that did not arrive in time. */
export function requestTimeout(timeoutMs: number): GatewayError {
  return new GatewayError(
    'request-timeout',
    `the request body did not arrive within ${timeoutMs} ms`,
    { details: { timeoutMs } },
  )
}
