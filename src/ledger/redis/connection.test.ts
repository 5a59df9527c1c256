import { describe, expect, it } from 'vitest'
import { Cluster, type Redis } from 'ioredis'
import { createRedisClient, reconnectDelay, redactRedisUrl, redactTarget } from './connection.js'

describe('redactRedisUrl', () => {
  it.each([
    ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
    ['redis://:secret@redis:6379', 'redis://***@redis:6379'],
    ['redis://user:secret@redis:6379/2', 'redis://***@redis:6379/2'],
    ['rediss://user@redis.example.com', 'rediss://***@redis.example.com'],
    ['not a url', '(unparseable Redis URL)'],
  ])('%s → %s', (url, shown) => {
    expect(redactRedisUrl(url)).toBe(shown)
    expect(redactRedisUrl(url)).not.toContain('secret')
  })
})

describe('reconnectDelay', () => {
  it('starts near 100 ms and never exceeds 1.2 s', () => {
    for (let times = 1; times <= 50; times += 1) {
      const delay = reconnectDelay(times)
      expect(delay).toBeGreaterThanOrEqual(80)
      expect(delay).toBeLessThanOrEqual(1_200)
    }
    expect(reconnectDelay(1)).toBeLessThanOrEqual(120)
  })
})

describe('redactTarget', () => {
  it('masks the credentials of every seed node and Sentinel', () => {
    expect(
      redactTarget({ cluster: { nodes: ['redis://:pw@a:7000', 'rediss://u:pw@b:7001'] } }),
    ).toBe('cluster redis://***@a:7000,rediss://***@b:7001')
    expect(
      redactTarget({
        sentinel: { name: 'ledger', nodes: ['redis://:pw@s:26379'], password: 'pw' },
      }),
    ).toBe('sentinel ledger@redis://***@s:26379')
  })
})

describe('createRedisClient', () => {
  it('accepts only redis:// and rediss:// URLs, without echoing credentials', () => {
    expect(() => createRedisClient({ url: 'http://user:secret@redis:6379' })).toThrow(
      /redis:\/\/ or rediss:\/\/ \(http:\/\/\*\*\*@redis:6379\)/,
    )
  })

  it('switches TLS on for rediss:// only', () => {
    const plain = createRedisClient({ url: 'redis://127.0.0.1:1' }) as Redis
    const tls = createRedisClient({
      url: 'rediss://127.0.0.1:1',
      tls: { servername: 'x' },
    }) as Redis
    expect(plain.options.tls).toBeUndefined()
    expect(tls.options.tls).toEqual({ servername: 'x' })
    expect(tls.options).toMatchObject({
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    })
    plain.disconnect()
    tls.disconnect()
  })

  it('builds a Cluster client that never resends a command after its connection closed', () => {
    const cluster = createRedisClient({
      cluster: { nodes: ['rediss://user:s%40cret@127.0.0.1:1', 'rediss://127.0.0.1:2'] },
      tls: { servername: 'x' },
    })
    expect(cluster).toBeInstanceOf(Cluster)
    const { options } = cluster as Cluster
    expect(options).toMatchObject({
      enableOfflineQueue: false,
      retryDelayOnFailover: 0,
      scaleReads: 'master',
    })
    expect(options.redisOptions).toMatchObject({
      username: 'user',
      password: 's@cret',
      tls: { servername: 'x' },
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    })
    cluster.disconnect()
  })

  it("follows the primary a Sentinel group names, with its own and the Sentinels' credentials", () => {
    const client = createRedisClient({
      sentinel: { name: 'ledger', nodes: ['redis://:sentinel@127.0.0.1:1'], password: 'primary' },
    }) as Redis
    expect(client.options).toMatchObject({
      name: 'ledger',
      role: 'master',
      sentinels: [{ host: '127.0.0.1', port: 1 }],
      sentinelPassword: 'sentinel',
      password: 'primary',
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    })
    client.disconnect()
  })
})
