/**
 * The container files, read the way Docker would read them (no Docker engine runs here): the
 * Dockerfile builds on the current Node.js LTS, installs no devnet binary in any stage, runs as a
 * non-root user and checks health on the port the configuration names; compose.yaml runs the
 * gateway with a durable Redis ledger, both with health checks, the gateway only once Redis is
 * healthy, with the configuration it mounts and every variable that configuration needs, and
 * with a stop grace long enough for the shutdown in docs/DESIGN.md.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { privateKeyToAddress } from 'viem/accounts'
import { parse } from 'yaml'
import { listenAddress } from '../../src/config/listen-address.js'
import { parseConfig } from '../../src/config/load.js'

/** The Node.js LTS line the image must use (26 is the active LTS since 2026-10-28). */
const nodeLts = 26

type Instruction = { readonly keyword: string; readonly args: string; readonly stage: number }

/**
 * Dockerfile instructions in order: continuation lines joined, comments and blank lines dropped,
 * each tagged with the index of its build stage (FROM starts one).
 */
function dockerfile(text: string): Instruction[] {
  const logical: string[] = []
  let pending = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (pending === '' && (line === '' || line.startsWith('#'))) continue
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `
      continue
    }
    logical.push(pending + line)
    pending = ''
  }
  let stage = -1
  return logical.map((line) => {
    const [keyword = '', ...rest] = line.split(/\s+/)
    if (keyword.toUpperCase() === 'FROM') stage += 1
    return { keyword: keyword.toUpperCase(), args: rest.join(' '), stage }
  })
}

/** Seconds of a compose duration such as `120s`, `2m` or `1m30s`. */
function seconds(duration: string): number {
  let total = 0
  for (const [, amount, unit] of duration.matchAll(/(\d+)(h|m|s)/g))
    total += Number(amount) * { h: 3600, m: 60, s: 1 }[unit as 'h' | 'm' | 's']
  return total
}

type Service = {
  image?: string
  build?: string
  command?: string[]
  environment?: Record<string, string>
  volumes?: string[]
  ports?: string[]
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test: string[] }
  stop_grace_period?: string
  init?: boolean
}

const instructions = dockerfile(readFileSync('Dockerfile', 'utf8'))
const compose = parse(readFileSync('compose.yaml', 'utf8')) as {
  services: Record<string, Service>
  volumes: Record<string, unknown>
}
const gatewayYaml = readFileSync('gateway.yaml', 'utf8')
const composeText = readFileSync('compose.yaml', 'utf8')

const runtimeStage = Math.max(...instructions.map((i) => i.stage))
const inRuntime = (keyword: string) =>
  instructions.filter((i) => i.stage === runtimeStage && i.keyword === keyword)
const execForm = (args: string): string[] => JSON.parse(args) as string[]

describe('Dockerfile', () => {
  it('builds every stage on the current Node.js LTS, slim', () => {
    const bases = instructions.filter((i) => i.keyword === 'FROM').map((i) => i.args)
    expect(bases.length).toBeGreaterThanOrEqual(2)
    for (const base of bases) expect(base).toMatch(new RegExp(`^node:${nodeLts}-[a-z]+-slim\\b`))
  })

  it('installs no optional dependency (the devnet binary) in any stage', () => {
    const installs = instructions.filter(
      (i) => i.keyword === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.args),
    )
    expect(installs.length).toBe(2)
    for (const install of installs) expect(install.args).toContain('--omit=optional')
    expect(instructions.some((i) => /anvil|foundry|node_modules/.test(i.args))).toBe(false)
    const [runtimeInstall] = installs.filter((i) => i.stage === runtimeStage)
    expect(runtimeInstall?.args).toContain('--omit=dev')
  })

  it('runs the built gateway as a non-root user, with its configuration from the environment', () => {
    expect(inRuntime('USER').map((i) => i.args)).toEqual(['node'])
    expect(execForm(inRuntime('ENTRYPOINT')[0]!.args)).toEqual(['node', 'dist/main.js'])
    const env = inRuntime('ENV')
      .map((i) => i.args)
      .join(' ')
    expect(env).toContain('MPP_GATEWAY_CONFIG=/etc/mpp-gateway/gateway.yaml')
    expect(inRuntime('COPY').map((i) => i.args)).toContain(
      'gateway.yaml /etc/mpp-gateway/gateway.yaml',
    )
    expect(inRuntime('COPY').map((i) => i.args)).toContain('--from=build /app/dist ./dist')
    expect(inRuntime('RUN').some((i) => i.args.includes('/usr/local/bin/mpp-gateway'))).toBe(true)
  })

  it('checks health on the configured port, and exposes the port gateway.yaml names', () => {
    const [healthcheck] = inRuntime('HEALTHCHECK')
    expect(healthcheck).toBeDefined()
    const command = /\bCMD\s+(\[.*\])$/.exec(healthcheck!.args)?.[1]
    expect(execForm(command!)).toEqual(['node', 'dist/healthcheck.js'])
    // No port, host or path written into the check: it reads them from the configuration.
    expect(healthcheck!.args).not.toMatch(/\d{4}|GATEWAY_PORT|readyz/)
    const configured = listenAddress(gatewayYaml, {})
    expect(configured.ok && configured.address.port).toBe(8080)
    expect(inRuntime('EXPOSE').map((i) => i.args)).toEqual(['8080'])
  })
})

describe('compose.yaml', () => {
  const { redis, gateway } = compose.services as { redis: Service; gateway: Service }

  it('runs Redis on config/redis.conf with AOF on every write, in a volume, unpublished', () => {
    const mount = redis.volumes?.find((v) => v.startsWith('./config/redis.conf:'))
    expect(mount).toBeDefined()
    const target = mount!.split(':')[1]
    expect(redis.command?.slice(0, 2)).toEqual(['redis-server', target])
    // The command may move the data and the listen address, never the durability settings.
    expect(redis.command?.join(' ')).not.toMatch(/append|maxmemory|save/)
    expect(redis.command?.join(' ')).toContain('--dir /data')
    expect(redis.volumes).toContain('redis-data:/data')
    expect(Object.keys(compose.volumes)).toContain('redis-data')
    expect(redis.ports).toBeUndefined()
    const conf = new Map(
      readFileSync('config/redis.conf', 'utf8')
        .split('\n')
        .filter((line) => line !== '' && !line.startsWith('#'))
        .map((line) => [line.split(/\s+/)[0], line.split(/\s+/).slice(1).join(' ')]),
    )
    expect(conf.get('appendonly')).toBe('yes')
    expect(conf.get('appendfsync')).toBe('always')
    expect(conf.get('maxmemory-policy')).toBe('noeviction')
    expect(redis.healthcheck?.test.join(' ')).toContain('redis-cli ping | grep -q PONG')
  })

  it('starts the gateway once Redis is healthy, with a health check of its own', () => {
    expect(gateway.build).toBe('.')
    expect(gateway.init).toBe(true)
    expect(gateway.depends_on).toEqual({ redis: { condition: 'service_healthy' } })
    const image = /\bCMD\s+(\[.*\])$/.exec(inRuntime('HEALTHCHECK')[0]!.args)![1]!
    expect(gateway.healthcheck?.test).toEqual(['CMD', ...execForm(image)])
  })

  it('mounts gateway.yaml where the image reads it and publishes its port', () => {
    expect(gateway.volumes).toContain('./gateway.yaml:/etc/mpp-gateway/gateway.yaml:ro')
    const configured = listenAddress(gatewayYaml, {})
    expect(configured.ok).toBe(true)
    const containerPorts = (gateway.ports ?? []).map((p) => Number(p.split(':').at(-1)))
    expect(containerPorts).toEqual([configured.ok ? configured.address.port : -1])
  })

  it('gives gateway.yaml every variable it needs, and .env.example names each one', () => {
    const needed = new Set(
      [...gatewayYaml.matchAll(/^[^#\n]*\$\{([A-Za-z_][A-Za-z0-9_]*)\}/gm)].map((m) => m[1]!),
    )
    expect([...needed].sort()).toEqual(
      [
        'DUNE_API_KEY',
        'MPP_CHALLENGE_SECRET',
        'PAYEE_ADDRESS',
        'PAYEE_PRIVATE_KEY',
        'REDIS_URL',
      ].sort(),
    )
    expect(Object.keys(gateway.environment ?? {}).sort()).toEqual([...needed].sort())
    expect(gateway.environment?.REDIS_URL).toMatch(
      /^redis:\/\/:\$\{REDIS_PASSWORD[^}]*\}@redis:6379$/,
    )
    const example = readFileSync('.env.example', 'utf8')
    for (const [, name] of composeText.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g))
      expect(example, name).toMatch(new RegExp(`^${name}=`, 'm'))
  })

  it('stops with a grace that covers the drain and a settlement in flight', () => {
    const payeeKey = `0x${'44'.repeat(32)}` as const
    const config = parseConfig({
      text: gatewayYaml,
      env: {
        MPP_CHALLENGE_SECRET: 'compose-test-secret-0123456789abcdef',
        PAYEE_ADDRESS: privateKeyToAddress(payeeKey),
        PAYEE_PRIVATE_KEY: payeeKey,
        DUNE_API_KEY: 'dune',
        REDIS_URL: 'redis://:password@redis:6379',
      },
      source: 'gateway.yaml',
    })
    expect(config.ledger).toMatchObject({ type: 'redis', redis: { requireDurable: true } })
    const needed =
      config.server.shutdownGraceSeconds + config.settlement.receiptTimeoutMs / 1000 + 30
    expect(seconds(gateway.stop_grace_period ?? '0s')).toBeGreaterThanOrEqual(needed)
  })
})
