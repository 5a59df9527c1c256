import { privateKeyToAddress } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { isLoopbackHost } from './admin.js'
import { ConfigError } from './errors.js'
import { parseConfig } from './load.js'

const payeeKey = `0x${'11'.repeat(32)}` as const
const adminToken = 'admin-token-0123456789-abcdefghijklmnop'
const env = {
  MPP_CHALLENGE_SECRET: 'challenge-secret-0123456789-abcdefghij',
  PAYEE_PRIVATE_KEY: payeeKey,
  ADMIN_TOKEN: adminToken,
}

function text(admin: Record<string, unknown> | undefined): string {
  return stringify({
    server: { realm: 'api.example.com', challengeSecret: '${MPP_CHALLENGE_SECRET}' },
    chain: { network: 'moderato' },
    payee: { address: privateKeyToAddress(payeeKey), signerKey: '${PAYEE_PRIVATE_KEY}' },
    currency: { token: '0x20c0000000000000000000000000000000000000' },
    ...(admin === undefined ? {} : { admin }),
    upstreams: { api: { baseUrl: 'https://api.example.com' } },
    routes: [{ method: 'GET', path: '/v1/x', upstream: 'api', price: '0.05' }],
  })
}

function issuesOf(admin: Record<string, unknown>) {
  try {
    parseConfig({ text: text(admin), env })
  } catch (error) {
    if (error instanceof ConfigError) return error.issues
    throw error
  }
  return []
}

describe('admin: in gateway.yaml', () => {
  it('is off without the section, and on loopback port 9090 by default with it', () => {
    expect(parseConfig({ text: text(undefined), env }).admin).toBeUndefined()
    expect(parseConfig({ text: text({ token: '${ADMIN_TOKEN}' }), env }).admin).toEqual({
      host: '127.0.0.1',
      port: 9090,
      token: adminToken,
      allowNonLoopback: false,
    })
  })

  it('refuses a non-loopback address unless allowNonLoopback is set', () => {
    for (const host of ['0.0.0.0', '::', '10.0.0.7', 'admin.internal']) {
      const issues = issuesOf({ token: '${ADMIN_TOKEN}', host })
      expect(issues, host).toHaveLength(1)
      expect(issues[0]).toMatchObject({ path: 'admin.host' })
      expect(issues[0]!.message).toContain('allowNonLoopback')
    }
    const allowed = parseConfig({
      text: text({ token: '${ADMIN_TOKEN}', host: '0.0.0.0', allowNonLoopback: true }),
      env,
    })
    expect(allowed.admin).toMatchObject({ host: '0.0.0.0', allowNonLoopback: true })
  })

  it('needs a token of at least 32 bytes, and never prints it', () => {
    expect(issuesOf({ host: '127.0.0.1' })).toEqual([
      expect.objectContaining({ path: 'admin.token' }),
    ])
    const short = issuesOf({ token: 'short-secret-value' })
    expect(short).toEqual([expect.objectContaining({ path: 'admin.token' })])
    expect(JSON.stringify(short)).not.toContain('short-secret-value')
    const spaced = issuesOf({ token: 'has spaces in it, so no client can send it as is' })
    expect(spaced).toEqual([expect.objectContaining({ path: 'admin.token' })])
    const missing = issuesOf({ token: '${NOT_SET_ANYWHERE}' })
    expect(missing).toEqual([expect.objectContaining({ path: 'admin.token' })])
  })

  it('counts only literal loopback addresses and localhost as loopback', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost', 'LOCALHOST'].map(isLoopbackHost)).toEqual(
      [true, true, true, true, true],
    )
    expect(
      ['0.0.0.0', '::', '192.168.1.2', 'example.com', '128.0.0.1'].map(isLoopbackHost),
    ).toEqual([false, false, false, false, false])
  })
})
