/**
 * `mpp-gateway admin …`: the admin API from a shell (docs/admin.md). Each subcommand is one HTTP
 * request to a running gateway's admin listener; the answer's JSON is printed on stdout as it
 * came, so scripts can read it with `jq`.
 *
 * Exit codes: 0 done; 1 the gateway answered a problem (printed on stdout, a one-line summary on
 * stderr); 2 a usage mistake; 3 the admin API could not be reached or the config names none;
 * 4 a settlement the command asked for did not land (busy, pending or failed — the JSON says which).
 */
import type { AdminEndpoint } from '../config/admin-endpoint.js'

export const adminUsage = `mpp-gateway admin <command> [--config <file>] [--admin-url <url>]

Commands:
  channels [--unsettled] [--limit n]   channels with their figures and exposure (open, or only unsettled)
  channel <channelId>                  one channel: ledger and chain figures, pending settlement, payer block
  settle <channelId> | --all           settle one channel, or every channel with unsettled value, now
  block <payer> [--reason text]        block a payer on every instance, then settle its channels
  unblock <payer>                      lift a payer's block
  payer <payer>                        a payer's block and channels
  blocked                              every blocked payer

The URL and bearer token are admin.host, admin.port and admin.token of the config file
(\${ENV} references expanded); --admin-url overrides the address.`

export type AdminCommand = {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  readonly path: string
  readonly body?: string
  /** The answer reports settlements; exit 4 unless each one settled or had nothing due. */
  readonly settles: boolean
}

/** The request a command line stands for, or a usage problem. */
export function adminCommand(
  positionals: readonly string[],
  flags: { all: boolean; unsettled: boolean; limit: string; reason: string | undefined },
): AdminCommand | { readonly problem: string } {
  const [name, target, ...extra] = positionals
  const one = (what: string) =>
    target === undefined
      ? { problem: `admin ${name} needs a ${what}` }
      : extra.length > 0
        ? { problem: `admin ${name} takes one ${what}` }
        : undefined
  const query = (params: Record<string, string | undefined>) => {
    const search = new URLSearchParams()
    for (const [key, value] of Object.entries(params))
      if (value !== undefined) search.set(key, value)
    const text = search.toString()
    return text === '' ? '' : `?${text}`
  }
  const none = target === undefined ? undefined : { problem: `admin ${name} takes no argument` }
  switch (name) {
    case 'channels':
      return (
        none ?? {
          method: 'GET',
          path: `/v1/channels${query({ state: flags.unsettled ? 'unsettled' : undefined, limit: flags.limit })}`,
          settles: false,
        }
      )
    case 'channel':
      return (
        one('channel id') ?? { method: 'GET', path: `/v1/channels/${enc(target)}`, settles: false }
      )
    case 'settle':
      if (flags.all) {
        return target === undefined
          ? { method: 'POST', path: `/v1/settle${query({ limit: flags.limit })}`, settles: true }
          : { problem: 'admin settle takes a channel id or --all, not both' }
      }
      return (
        one('channel id (or --all)') ?? {
          method: 'POST',
          path: `/v1/channels/${enc(target)}/settle`,
          settles: true,
        }
      )
    case 'block':
      return (
        one('payer address') ?? {
          method: 'PUT',
          path: `/v1/payers/${enc(target)}/block`,
          ...(flags.reason === undefined ? {} : { body: JSON.stringify({ reason: flags.reason }) }),
          settles: true,
        }
      )
    case 'unblock':
      return (
        one('payer address') ?? {
          method: 'DELETE',
          path: `/v1/payers/${enc(target)}/block`,
          settles: false,
        }
      )
    case 'payer':
      return (
        one('payer address') ?? { method: 'GET', path: `/v1/payers/${enc(target)}`, settles: false }
      )
    case 'blocked':
      return (
        none ?? {
          method: 'GET',
          path: `/v1/payers/blocked${query({ limit: flags.limit })}`,
          settles: false,
        }
      )
    case undefined:
      return { problem: 'admin needs a command' }
    default:
      return { problem: `unknown admin command: ${name}` }
  }
}

const enc = (text: string | undefined) => encodeURIComponent(text ?? '')

/** Whether every settlement in an answer landed or had nothing to do. */
function allSettled(body: unknown): boolean {
  const list =
    typeof body === 'object' && body !== null
      ? 'settlements' in body
        ? body.settlements
        : [body]
      : []
  return (
    Array.isArray(list) &&
    list.every((s: unknown) => {
      const kind = typeof s === 'object' && s !== null ? (s as { kind?: unknown }).kind : undefined
      return kind === 'settled' || kind === 'nothing-due'
    })
  )
}

/** Sends the command; prints the answer; resolves with the exit code. */
export async function runAdminCommand(
  endpoint: AdminEndpoint,
  command: AdminCommand,
  io: { out(text: string): void; err(text: string): void },
): Promise<number> {
  let response: Response
  try {
    response = await fetch(new URL(command.path, endpoint.url), {
      method: command.method,
      headers: {
        authorization: `Bearer ${endpoint.token}`,
        ...(command.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(command.body === undefined ? {} : { body: command.body }),
      // A settlement waits for its receipt; settling many channels can take a while.
      signal: AbortSignal.timeout(300_000),
    })
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
    io.err(
      `mpp-gateway admin: cannot reach ${endpoint.url}: ${cause instanceof Error ? cause.message : String(cause)}`,
    )
    return 3
  }
  const text = await response.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    io.err(`mpp-gateway admin: ${endpoint.url} answered ${response.status} without JSON`)
    return 3
  }
  io.out(JSON.stringify(body, null, 2))
  if (!response.ok) {
    const { code, detail } = body as { code?: unknown; detail?: unknown }
    io.err(`mpp-gateway admin: ${response.status} ${String(code)}: ${String(detail)}`)
    return 1
  }
  return command.settles && !allSettled(body) ? 4 : 0
}
