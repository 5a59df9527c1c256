/**
 * What the bench hands a gateway child: a parsed `Config`, whether payments are on, which build
 * of the gateway code to run, and where its log lines go — written as one JSON temp file.
 *
 * `Config` is plain data except for its amounts, which are `bigint`; they travel as
 * `{"$bigint": "<decimal>"}` and come back as `bigint`, so the child runs exactly the
 * configuration the bench parsed (no second YAML parse, no `${ENV}` in the child).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import type { Config } from '../../src/config/schema.js'

/** Which compiled form of `src/` a gateway child imports. */
export type GatewayRuntime = 'tsx' | 'dist'

export type GatewaySpec = {
  readonly name: string
  readonly config: Config
  /** `false`: the plain-proxy reference, every route forwarded free. */
  readonly payments: boolean
  /** `tsx`: `src/*.ts` transpiled on load; `dist`: the `npm run build` output. */
  readonly runtime: GatewayRuntime
  /** File the gateway's pino lines go to (`/dev/null` to drop them). */
  readonly logFile: string
  /** Write one access line per request (default); a soak keeps only the operational lines. */
  readonly accessLog?: boolean
}

type TaggedBigint = { $bigint: string }

function isTaggedBigint(value: unknown): value is TaggedBigint {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.keys(value).length === 1 &&
    typeof (value as Partial<TaggedBigint>).$bigint === 'string'
  )
}

/** Writes a spec to `path`. */
export function writeGatewaySpec(path: string, spec: GatewaySpec): void {
  const text = JSON.stringify(spec, (_key, value: unknown) =>
    typeof value === 'bigint' ? ({ $bigint: value.toString() } satisfies TaggedBigint) : value,
  )
  writeFileSync(path, text, { mode: 0o600 })
}

/** Reads a spec written by {@link writeGatewaySpec}. */
export function readGatewaySpec(path: string): GatewaySpec {
  return JSON.parse(readFileSync(path, 'utf8'), (_key, value: unknown) =>
    isTaggedBigint(value) ? BigInt(value.$bigint) : value,
  ) as GatewaySpec
}
