/**
 * A small Dune-like API on loopback, standing in for the operator's upstream in tests, the demo
 * and benchmarks: `POST /v1/sql/execute`, `GET /v1/execution/:id/status|results|results/csv`.
 * It records every request it receives (method, path, headers) and can be told to fail the next
 * requests with a status, or to hold them, so tests can see exactly what the gateway forwarded.
 * A test can also script the answer per request (`script`): a status, a hang that only the test
 * ends (`releaseHeld`, or `close`), or a connection reset before any response head.
 *
 * With `?rows=N` the results are Dune-sized: N rows, `result.metadata` with `row_count`,
 * `total_row_count`, `datapoint_count`, `result_set_bytes` and `execution_time_millis`; the CSV
 * is N rows, streamed without a Content-Length, with `x-dune-next-offset` when there is more.
 * Without it, one row (the small answer the other suites expect).
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export type SeenRequest = {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
}

/**
 * How the upstream treats one request, instead of its normal answer: answer with `status` (and
 * a small JSON error body); `hang`: send nothing until `releaseHeld()` or `close()`; `reset`:
 * destroy the connection before any response head; `delay`: the normal answer, `ms` later;
 * `wait`: the normal answer once `until` resolves (a slow upstream the test lets finish).
 */
export type UpstreamBehaviour =
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'hang' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'wait'; readonly until: Promise<void> }
  /**
   * The normal answer's head (with its full Content-Length) and its first `afterBytes` body
   * bytes; then the connection is destroyed, or with `stall` held until `releaseHeld()`.
   */
  | { readonly kind: 'cut'; readonly afterBytes: number; readonly stall?: boolean }

export type ExampleUpstream = {
  readonly url: string
  readonly seen: SeenRequest[]
  /** Answer the next `count` requests with `status` (and a small JSON error body). */
  failNext(count: number, status: number): void
  /** Hold the next `count` requests for `ms` before answering. */
  delayNext(count: number, ms: number): void
  /**
   * Decides per request (after its body was read and recorded) whether to misbehave; `undefined`
   * means the usual answer. A script takes precedence over `failNext` and `delayNext`.
   */
  script(decide: ((request: SeenRequest) => UpstreamBehaviour | undefined) | undefined): void
  /**
   * Ends every request a script left hanging (closing its connection, if the gateway has not
   * already) and returns how many there were.
   */
  releaseHeld(): number
  close(): Promise<void>
}

export async function startExampleUpstream(
  options: { port?: number; record?: boolean } = {},
): Promise<ExampleUpstream> {
  const seen: SeenRequest[] = []
  const record = options.record ?? true
  let failures: { count: number; status: number } = { count: 0, status: 500 }
  let delays: { count: number; ms: number } = { count: 0, ms: 0 }
  let executions = 0
  let decide: ((request: SeenRequest) => UpstreamBehaviour | undefined) | undefined
  const held = new Set<ServerResponse>()
  const takeFailure = (): number | undefined => {
    if (failures.count === 0) return undefined
    failures.count -= 1
    return failures.status
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body }
      if (record) seen.push(request)
      const behaviour = decide?.(request)
      if (behaviour?.kind === 'reset') {
        req.socket.destroy()
        return
      }
      if (behaviour?.kind === 'hang') {
        held.add(res)
        return
      }
      const respond = () => {
        const failWith = behaviour?.kind === 'status' ? behaviour.status : takeFailure()
        if (failWith !== undefined) {
          res.writeHead(failWith, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: 'upstream failure' }))
          return
        }
        const path = (req.url ?? '/').split('?')[0]!
        const json = (status: number, value: unknown) => {
          const text = JSON.stringify(value)
          res.writeHead(status, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(text),
          })
          if (behaviour?.kind !== 'cut') return void res.end(text)
          res.write(Buffer.from(text).subarray(0, behaviour.afterBytes))
          if (behaviour.stall) held.add(res)
          else req.socket.destroy()
        }
        if (req.method === 'POST' && path === '/v1/sql/execute') {
          executions += 1
          return json(200, { execution_id: `01EXEC${executions}`, state: 'QUERY_STATE_PENDING' })
        }
        const m = /^\/v1\/execution\/([^/]+)\/(status|results|results\/csv)$/.exec(path)
        const limit = /[?&]rows=(\d{1,6})(?:&|$)/.exec(req.url ?? '')?.[1]
        if (req.method === 'GET' && m && limit !== undefined && m[2] !== 'status') {
          if (m[2] === 'results') {
            return json(200, duneResults(m[1]!, Number(limit)))
          }
          return duneCsv(res, Number(limit))
        }
        if (req.method === 'GET' && m) {
          const id = m[1]!
          if (m[2] === 'status')
            return json(200, { execution_id: id, state: 'QUERY_STATE_COMPLETED' })
          if (m[2] === 'results') {
            return json(200, {
              execution_id: id,
              result: { rows: [{ block: 1, value: '42' }], metadata: { row_count: 1 } },
            })
          }
          res.writeHead(200, { 'content-type': 'text/csv' })
          res.end('block,value\n1,42\n')
          return
        }
        json(404, { error: 'not found' })
      }
      if (behaviour?.kind === 'delay') {
        setTimeout(respond, behaviour.ms)
      } else if (behaviour?.kind === 'wait') {
        void behaviour.until.then(respond)
      } else if (behaviour === undefined && delays.count > 0) {
        delays.count -= 1
        setTimeout(respond, delays.ms)
      } else {
        respond()
      }
    })
  })
  server.keepAliveTimeout = 5_000
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    failNext(count, status) {
      failures = { count, status }
    },
    delayNext(count, ms) {
      delays = { count, ms }
    },
    script(next) {
      decide = next
    },
    releaseHeld() {
      const count = held.size
      for (const res of held) res.destroy()
      held.clear()
      return count
    },
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
    },
  }
}

/** Rows of a Dune-like result; each row's size varies with its index. */
export function duneRows(count: number): { block: number; value: string }[] {
  return Array.from({ length: count }, (_, i) => ({
    block: i + 1,
    value: 'v'.repeat(1 + (i % 23)),
  }))
}

/** A Dune-sized CSV of `count` rows, streamed as Dune does: chunked, the paging offset in a header. */
function duneCsv(res: ServerResponse, count: number): void {
  res.writeHead(200, { 'content-type': 'text/csv', 'x-dune-next-offset': String(count) })
  res.write('block,value\n')
  for (const row of duneRows(count)) res.write(`${row.block},${row.value}\n`)
  res.end()
}

/** Dune-sized JSON results of `count` rows, with Dune's metadata. */
function duneResults(id: string, count: number): unknown {
  const rows = duneRows(count)
  const resultSetBytes = Buffer.byteLength(JSON.stringify(rows))
  return {
    execution_id: id,
    state: 'QUERY_STATE_COMPLETED',
    result: {
      rows,
      metadata: {
        column_names: ['block', 'value'],
        row_count: count,
        total_row_count: count,
        datapoint_count: count * 2,
        result_set_bytes: resultSetBytes,
        execution_time_millis: 7,
      },
    },
  }
}
