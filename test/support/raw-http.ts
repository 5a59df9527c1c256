/**
 * HTTP/1.1 over a bare socket, for tests where the bytes matter: request targets that `fetch`
 * would normalise (fragments, dot segments, absolute form), repeated header lines, `Expect:
 * 100-continue`, bodies that trickle in. What a test writes is exactly what the gateway reads, and
 * every byte of the answer is kept, interim `100 Continue` lines included.
 */
import { connect, type Socket } from 'node:net'

export type RawResponse = {
  /** Every status line received, interim (1xx) ones first. */
  readonly statusLines: readonly string[]
  /** The final status. */
  readonly status: number
  /** The final answer's headers, names lower-cased (a repeated one keeps its last value). */
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  /** Everything received, as latin1 text. */
  readonly text: string
}

export type RawExchange = {
  readonly socket: Socket
  /** Resolves with the first final answer once complete (or when the connection ends). */
  readonly response: Promise<RawResponse>
  /** Resolves with the next status line received (interim or final). */
  nextStatusLine(): Promise<string>
}

/**
 * Connects to `baseUrl`'s host and port and writes `bytes` (a request head, optionally with a
 * body or part of one). A response that has not completed within `timeoutMs` rejects.
 */
export function rawExchange(
  baseUrl: string,
  bytes: string | Buffer,
  options: { timeoutMs?: number } = {},
): RawExchange {
  const { hostname, port } = new URL(baseUrl)
  const socket = connect(Number(port), hostname)
  let received = Buffer.alloc(0)
  let lines = 0
  const waiters: ((line: string) => void)[] = []
  const statusLinesIn = () => parse(received).statusLines

  const response = new Promise<RawResponse>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no complete answer within ${options.timeoutMs ?? 10_000} ms`))
    }, options.timeoutMs ?? 10_000)
    const finish = (complete: RawResponse | undefined) => {
      clearTimeout(timer)
      if (complete) resolve(complete)
      else reject(new Error(`the connection ended without an answer: ${received.toString()}`))
    }
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      const seen = statusLinesIn()
      while (lines < seen.length && waiters.length > 0) waiters.shift()!(seen[lines++]!)
      const parsed = parse(received)
      if (parsed.complete) finish(parsed.response)
    })
    socket.on('close', () => finish(parse(received, true).response))
    socket.on('error', () => {})
  })
  response.catch(() => {})
  socket.write(bytes)
  return {
    socket,
    response,
    nextStatusLine() {
      const seen = statusLinesIn()
      if (lines < seen.length) return Promise.resolve(seen[lines++]!)
      return new Promise((resolve) => waiters.push(resolve))
    },
  }
}

/** One request, `Connection: close` added; resolves with the answer. */
export function rawRequest(
  baseUrl: string,
  head: { method?: string; target: string; headers?: readonly (readonly [string, string])[] },
  body = '',
): Promise<RawResponse> {
  const lines = [
    `${head.method ?? 'GET'} ${head.target} HTTP/1.1`,
    `Host: ${new URL(baseUrl).host}`,
    ...(head.headers ?? []).map(([name, value]) => `${name}: ${value}`),
    ...(body === '' ? [] : [`Content-Length: ${Buffer.byteLength(body)}`]),
    'Connection: close',
  ]
  return rawExchange(baseUrl, `${lines.join('\r\n')}\r\n\r\n${body}`).response
}

type Parsed = {
  readonly statusLines: string[]
  readonly complete: boolean
  readonly response: RawResponse | undefined
}

function parse(bytes: Buffer, ended = false): Parsed {
  const text = bytes.toString('latin1')
  const statusLines: string[] = []
  let at = 0
  for (;;) {
    const end = text.indexOf('\r\n\r\n', at)
    if (end === -1) return { statusLines, complete: false, response: undefined }
    const [statusLine = '', ...headerLines] = text.slice(at, end).split('\r\n')
    statusLines.push(statusLine)
    const status = Number(statusLine.split(' ')[1])
    at = end + 4
    if (status >= 100 && status < 200) continue
    const headers: Record<string, string> = {}
    for (const line of headerLines) {
      const colon = line.indexOf(':')
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    const rest = text.slice(at)
    const length = headers['content-length']
    let body: string | undefined
    if (length !== undefined) {
      if (rest.length >= Number(length)) body = rest.slice(0, Number(length))
    } else if (headers['transfer-encoding'] === 'chunked') {
      if (rest.includes('0\r\n\r\n') || ended) body = dechunk(rest)
    } else if (ended || status === 204 || status === 304) {
      body = rest
    }
    if (body === undefined && ended) body = rest
    const response = body === undefined ? undefined : { statusLines, status, headers, body, text }
    return { statusLines, complete: response !== undefined, response }
  }
}

function dechunk(text: string): string {
  let out = ''
  let at = 0
  for (;;) {
    const lineEnd = text.indexOf('\r\n', at)
    if (lineEnd === -1) return out
    const size = Number.parseInt(text.slice(at, lineEnd), 16)
    if (!(size > 0)) return out
    out += text.slice(lineEnd + 2, lineEnd + 2 + size)
    at = lineEnd + 2 + size + 2
  }
}
