#!/usr/bin/env node
/**
 * The container's health check: exits 0 when the gateway configured in gateway.yaml answers its
 * readiness endpoint with 200, else 1 (with the reason on stderr). It follows the configuration —
 * `server.host`, `server.port` and `server.reservedPrefix`, `${ENV}` references included — so a
 * gateway moved to another port stays healthy, and it reads only those fields (see
 * config/listen-address.ts): it runs every few seconds.
 *
 *   node dist/healthcheck.js [--config <file>]    (default: $MPP_GATEWAY_CONFIG, else gateway.yaml)
 */
import { readFileSync } from 'node:fs'
import { get } from 'node:http'
import { listenAddress, readinessUrl } from './config/listen-address.js'

/** How long the readiness endpoint may take; the gateway's own ledger ping is bounded at 1 s. */
const timeoutMs = 2_500

async function main(argv: readonly string[]): Promise<number> {
  const at = argv.findIndex((arg) => arg === '--config' || arg === '-c')
  const path =
    (at >= 0 ? argv[at + 1] : undefined) ?? process.env.MPP_GATEWAY_CONFIG ?? 'gateway.yaml'
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    console.error(`unhealthy: cannot read ${path} (${(error as NodeJS.ErrnoException).code})`)
    return 1
  }
  const read = listenAddress(text, process.env)
  if (!read.ok) {
    console.error(`unhealthy: ${path}: ${read.problem}`)
    return 1
  }
  const url = readinessUrl(read.address)
  const answer = await probe(url)
  if (answer.status === 200) return 0
  console.error(`unhealthy: ${url}: ${answer.status ?? answer.error}`)
  return 1
}

/** One GET with a deadline (node:http: lighter to load than fetch, and this runs often). */
function probe(url: string): Promise<{ status?: number; error?: string }> {
  return new Promise((resolve) => {
    const request = get(url, { timeout: timeoutMs }, (response) => {
      response.resume()
      resolve({ status: response.statusCode ?? 0 })
    })
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    request.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ error: error.code ?? error.message }),
    )
  })
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  () => process.exit(1),
)
