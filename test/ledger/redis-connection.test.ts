/**
 * Connecting the Redis ledger: credentials in the URL (`redis://:password@…`,
 * `redis://user:password@…/db`), TLS with `rediss://`, and a password that never reaches a log or
 * an error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/errors.js'
import { createRedisLedger } from '../../src/ledger/redis/ledger.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { newChannel, voucher } from './contract.js'

const password = 'pässword with spaces/and:colons@x'
const now = 1_700_000_000_000

/** Everything a failure exposes: messages and causes, all the way down. */
function exposed(error: unknown): string {
  const parts: string[] = []
  let current: unknown = error
  for (let depth = 0; current instanceof Error && depth < 5; depth += 1) {
    // Own enumerable properties too: what a JSON logger (pino's err serializer) would write.
    parts.push(current.message, String(current.stack), JSON.stringify(current))
    current = current.cause
  }
  return parts.join('\n')
}

describe('redis ledger: connection URLs', () => {
  let secured: RedisServer
  let tls: RedisServer

  beforeAll(async () => {
    ;[secured, tls] = await Promise.all([
      startRedisServer({ password }),
      startRedisServer({ tls: true }),
    ])
  })
  afterAll(async () => {
    await secured.stop()
    await tls.stop()
  })

  const encoded = encodeURIComponent(password)

  it('authenticates with redis://:password@host and redis://user:password@host/db', async () => {
    for (const url of [
      `redis://:${encoded}@127.0.0.1:${secured.port}`,
      `redis://default:${encoded}@127.0.0.1:${secured.port}/3`,
    ]) {
      const ledger = await createRedisLedger({ url, keyPrefix: 'auth:' })
      try {
        const channel = newChannel()
        await ledger.open(channel, now)
        expect(
          await ledger.authorize({
            channelId: channel.channelId,
            voucher: voucher(5n),
            amount: 5n,
            mode: 'commit',
            minDelta: 0n,
            now,
          }),
        ).toMatchObject({ kind: 'authorized' })
        const db = url.endsWith('/3') ? 3 : 0
        expect(String(await ledger.client.client('INFO'))).toContain(` db=${db} `)
      } finally {
        await ledger.close()
      }
    }
  })

  it('refuses a wrong password with ledger-unavailable, and never shows the password', async () => {
    const wrong = 'not-the-password'
    for (const auth of [`:${wrong}`, `default:${wrong}`, `someone:${wrong}`]) {
      const warnings: string[] = []
      let failure: unknown
      try {
        await createRedisLedger({
          url: `redis://${auth}@127.0.0.1:${secured.port}`,
          keyPrefix: 'auth:',
          logger: { warn: (obj, msg) => warnings.push(JSON.stringify(obj) + msg) },
        })
      } catch (error) {
        failure = error
      }
      expect(failure).toBeInstanceOf(GatewayError)
      expect(failure).toMatchObject({ code: 'ledger-unavailable' })
      expect(exposed(failure)).toMatch(/WRONGPASS/)
      expect(exposed(failure)).not.toContain(wrong)
      expect(warnings.join('\n')).not.toContain(wrong)
    }
  })

  it('logs the target of a lost connection without its credentials', async () => {
    const server = await startRedisServer({ password })
    const warnings: string[] = []
    const ledger = await createRedisLedger({
      url: server.url,
      keyPrefix: 'auth:',
      logger: { warn: (obj, msg) => warnings.push(JSON.stringify(obj) + ' ' + msg) },
    })
    await server.kill9()
    await expect(ledger.ping()).rejects.toMatchObject({ code: 'ledger-unavailable' })
    // A call can fail (the socket is no longer writable) before ioredis reports the connection
    // closed; the warning follows within moments. Bounded wait, not a retry of the assertion.
    for (let waited = 0; warnings.length === 0 && waited < 2_000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await ledger.close()
    await server.stop()
    expect(warnings.join('\n')).toContain(`redis://***@127.0.0.1:${server.port}`)
    expect(warnings.join('\n')).not.toContain(encoded)
    expect(warnings.join('\n')).not.toContain(password)
  })

  it('speaks TLS with rediss:// (private CA passed as tls options)', async () => {
    const ledger = await createRedisLedger({
      url: tls.url,
      keyPrefix: 'tls:',
      tls: { ca: tls.caCert! },
    })
    try {
      const channel = newChannel()
      expect((await ledger.open(channel, now)).kind).toBe('created')
      expect(tls.url.startsWith('rediss://')).toBe(true)
    } finally {
      await ledger.close()
    }
  })

  it('fails closed on TLS problems: unknown CA, or plain redis:// to a TLS port', async () => {
    await expect(createRedisLedger({ url: tls.url, keyPrefix: 'tls:' })).rejects.toMatchObject({
      code: 'ledger-unavailable',
    })
    await expect(
      createRedisLedger({
        url: `redis://127.0.0.1:${tls.port}`,
        keyPrefix: 'tls:',
        connectTimeoutMs: 500,
        commandTimeoutMs: 500,
      }),
    ).rejects.toMatchObject({ code: 'ledger-unavailable' })
  })
})
