/**
 * `admin:` in gateway.yaml: the operator's API on a listener of its own (docs/admin.md). Without
 * the section there is no admin listener at all.
 *
 * Invariants: the listener binds a loopback address unless `allowNonLoopback` says otherwise in
 * so many words (the API can settle, block and read every channel); the token is at least 32
 * bytes and written as a `${ENV}` reference in practice, like every secret in the file.
 */
import { BlockList, isIP } from 'node:net'
import { z } from 'zod'
import { integer, secret, text } from './field-types.js'

const loopback = new BlockList()
loopback.addSubnet('127.0.0.0', 8, 'ipv4')
loopback.addAddress('::1', 'ipv6')

/**
 * Whether `host` can only be reached from this machine: `localhost`, 127.0.0.0/8 or ::1. A host
 * name other than `localhost` is not: what it resolves to can change under the gateway.
 */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true
  const version = isIP(host)
  if (version === 0) return false
  return loopback.check(host, version === 4 ? 'ipv4' : 'ipv6')
}

/** RFC 6750's b64token: what a client can send after `Bearer ` (hono's bearer-auth holds to it). */
const bearerToken = /^[A-Za-z0-9._~+/-]+=*$/

/** The defaults, shared with the `mpp-gateway admin` client (admin-endpoint.ts). */
export const adminDefaults = { host: '127.0.0.1', port: 9090 } as const

export const adminSchema = z
  .strictObject({
    host: text(
      'Interface the admin API listens on; loopback only unless allowNonLoopback is true.',
    ).default(adminDefaults.host),
    port: integer({
      min: 0,
      max: 65535,
      description: 'TCP port of the admin API (0: any free port).',
    }).default(adminDefaults.port),
    token: secret('Bearer token every admin request must present; at least 32 bytes. Use ${ENV}.'),
    allowNonLoopback: z
      .boolean()
      .meta({
        description:
          'Let the admin API listen on an address other machines can reach (put TLS and a firewall in front of it).',
      })
      .default(false),
  })
  .superRefine((admin, ctx) => {
    if (!bearerToken.test(admin.token)) {
      ctx.addIssue({
        code: 'custom',
        path: ['token'],
        message:
          'must be a bearer token: letters, digits and - . _ ~ + / (then = padding), e.g. `openssl rand -hex 32`',
      })
    }
    if (!admin.allowNonLoopback && !isLoopbackHost(admin.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['host'],
        message:
          'is not a loopback address (127.0.0.1, ::1, localhost); the admin API can settle and block, so set admin.allowNonLoopback: true to listen here on purpose',
      })
    }
  })
  .meta({
    description:
      'The admin API (channels, settle now, block payers) on its own listener; absent: no admin API.',
  })
