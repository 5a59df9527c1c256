import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { privateKeyToAddress } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import { checkConfig } from './check.js'

const payeeKey = `0x${'33'.repeat(32)}` as const
const env = {
  MPP_CHALLENGE_SECRET: 'check-secret-0123456789-0123456789',
  PAYEE_ADDRESS: privateKeyToAddress(payeeKey),
  PAYEE_PRIVATE_KEY: payeeKey,
  DUNE_API_KEY: 'dune-key-must-stay-hidden',
  REDIS_PASSWORD: 'redis-password-must-stay-hidden',
  RPC_KEY: 'rpc-key-must-stay-hidden',
  REDIS_URL: 'redis://:${REDIS_PASSWORD}@127.0.0.1:6379',
}
const rootFile = fileURLToPath(new URL('../../gateway.yaml', import.meta.url))

function writeTemp(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'mppgw-check-')), 'gateway.yaml')
  writeFileSync(path, text)
  return path
}

describe('checkConfig', () => {
  it('summarises routes, prices and upstreams of a valid file', () => {
    const result = checkConfig(rootFile, env)
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.summary).toContain(
      'POST  /v1/sql/execute                  → dune                                          0.05 (50000 base units, charged on 2xx)',
    )
    expect(result.summary).toContain(
      'GET   /v1/execution/:id/status         → dune                                          free',
    )
    expect(result.summary).toContain(
      'GET   /v1/execution/:execution_id/csv  → dune /v1/execution/:execution_id/results/csv  0.01 (10000 base units, charged on 2xx)',
    )
    expect(result.summary).toContain(
      'GET   /v1/query/:query_id/results      → dune                                          at most 0.05 (50000 base units): 1000 + 100 per result.metadata.row_count, base units, charged on 2xx',
    )
    expect(result.summary).toContain('metrics off, CORS off')
    expect(result.summary).toContain('admin      off')
    expect(result.summary).toContain('dune  https://api.dune.com/api  headers X-Dune-Api-Key: ***')
    expect(result.summary).toContain('tempo (chain id 4217) via https://rpc.tempo.xyz')
    expect(result.summary).toContain(`signing as ${env.PAYEE_ADDRESS}`)
  })

  it('names the intents of a route paid by more than a session', () => {
    const text = readFileSync(rootFile, 'utf8').replace(
      'tempoCharge:\n  enabled: false',
      'tempoCharge:\n  enabled: true',
    )
    const result = checkConfig(writeTemp(text), env)
    expect(result.ok && result.summary).toContain(
      '0.05 (50000 base units, charged on 2xx, paid by session or charge)',
    )
  })

  it('never shows a secret: header values, challenge secret, signer key, Redis password, RPC key', () => {
    const text = [
      'server: { realm: r, challengeSecret: "${MPP_CHALLENGE_SECRET}" }',
      'chain: { network: custom, rpcUrl: "https://rpc.example/v1/${RPC_KEY}", chainId: 5 }',
      'payee: { address: "${PAYEE_ADDRESS}", signerKey: "${PAYEE_PRIVATE_KEY}" }',
      'currency: { token: "0x20c0000000000000000000000000000000000000" }',
      'ledger: { type: redis, redis: { url: "redis://user:${REDIS_PASSWORD}@redis:6379" } }',
      'upstreams: { dune: { baseUrl: "https://api.dune.com/api", headers: { Authorization: "Bearer ${DUNE_API_KEY}" } } }',
      'routes: [{ method: GET, path: /x, upstream: dune, price: "1" }]',
    ].join('\n')
    const result = checkConfig(writeTemp(text), env)
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.summary).toContain('redis redis://***@redis:6379')
    expect(result.summary).toContain('via https://rpc.example/***')
    expect(result.summary).toContain('Authorization: ***')
    for (const secret of [
      env.MPP_CHALLENGE_SECRET,
      env.DUNE_API_KEY,
      env.REDIS_PASSWORD,
      env.RPC_KEY,
      payeeKey,
      payeeKey.slice(2),
    ]) {
      expect(result.summary).not.toContain(secret)
    }
  })

  it('masks the credentials of Redis Cluster seed nodes and of Sentinels', () => {
    for (const [ledger, shown] of [
      [
        'ledger: { type: redis, redis: { minReplicas: 1, cluster: { nodes: ["redis://:${REDIS_PASSWORD}@a:7000", "redis://:${REDIS_PASSWORD}@b:7000"] } } }',
        'redis cluster redis://***@a:7000, redis://***@b:7000 (key prefix "mppgw:", 1 replica(s) acknowledge each voucher)',
      ],
      [
        'ledger: { type: redis, redis: { sentinel: { name: ledger, nodes: ["redis://:${REDIS_PASSWORD}@s:26379"], password: "${REDIS_PASSWORD}" } } }',
        'redis sentinel "ledger" via redis://***@s:26379 (key prefix "mppgw:")',
      ],
    ] as const) {
      const text = [
        'server: { realm: r, challengeSecret: "${MPP_CHALLENGE_SECRET}" }',
        'chain: { network: custom, rpcUrl: "https://rpc.example", chainId: 5 }',
        'payee: { address: "${PAYEE_ADDRESS}", signerKey: "${PAYEE_PRIVATE_KEY}" }',
        'currency: { token: "0x20c0000000000000000000000000000000000000" }',
        ledger,
        'upstreams: { u: { baseUrl: "https://api.example" } }',
        'routes: [{ method: GET, path: /x, upstream: u, price: "1" }]',
      ].join('\n')
      const result = checkConfig(writeTemp(text), env)
      expect(result.ok).toBe(true)
      if (!result.ok) return
      expect(result.summary).toContain(shown)
      expect(result.summary).not.toContain(env.REDIS_PASSWORD)
    }
  })

  it('returns every problem, with a printable report', () => {
    const result = checkConfig(rootFile, {
      ...env,
      DUNE_API_KEY: undefined,
      MPP_CHALLENGE_SECRET: 'short',
    })
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.issues.map((issue) => issue.path)).toEqual([
      'server.challengeSecret',
      'upstreams.dune.headers.X-Dune-Api-Key',
    ])
    expect(result.report).toMatch(
      /gateway\.yaml: 2 problems\n {2}- server\.challengeSecret \(line \d+\): must be at least 32 bytes/,
    )
    expect(result.report).not.toContain('short')
  })

  it('reports a missing file as a problem, not a crash', () => {
    const result = checkConfig('/nonexistent/gateway.yaml', env)
    expect(result).toMatchObject({
      ok: false,
      issues: [{ path: '', message: 'cannot read the file (ENOENT)' }],
    })
  })
})
