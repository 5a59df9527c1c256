import type { Hex } from 'viem'
import { describe, expect, it } from 'vitest'
import { bucketOf, indexBuckets, redisKeys } from './keys.js'

const id = (last: string): Hex => `0x${last.padStart(64, '0')}`

describe('redisKeys', () => {
  const keys = redisKeys('gw:')

  it('gives every key of one channel the same hash tag, with the prefix inside it', () => {
    const channel = id('ab12')
    const tag = `{gw:${channel}}`
    for (const key of [
      keys.channel(channel),
      keys.reservations(channel),
      keys.lock(channel),
      keys.fence(channel),
      keys.intent(channel),
    ]) {
      expect(key.startsWith(`${tag}:`)).toBe(true)
    }
    expect(new Set([keys.channel(channel), keys.reservations(channel)]).size).toBe(2)
  })

  it('puts a channel in the bucket its last hex digits pick, and lists every bucket', () => {
    expect(bucketOf(id('0000'))).toBe(0)
    expect(bucketOf(id('001f'))).toBe(0x1f % indexBuckets)
    expect(keys.unsettled(id('0003'))).toBe('{gw:unsettled:3}')
    expect(keys.intents(id('0013'))).toBe('{gw:intents:3}')
    expect(keys.unsettledBuckets).toHaveLength(indexBuckets)
    expect(keys.unsettledBuckets).toContain(keys.unsettled(id('beef')))
    expect(keys.intentsBuckets).toContain(keys.intents(id('beef')))
  })

  it('reads the channel id back from a channel hash key only', () => {
    const channel = id('c0ffee')
    expect(keys.channelIdOf(keys.channel(channel))).toBe(channel)
    expect(keys.channelIdOf(keys.reservations(channel))).toBeUndefined()
    expect(redisKeys('other:').channelIdOf(keys.channel(channel))).toBeUndefined()
  })

  it('escapes glob characters of the prefix in the scan pattern', () => {
    expect(redisKeys('a*[b]?:').channelPattern).toBe('{a\\*\\[b\\]\\?:0x*}:ch')
  })

  it('refuses a prefix with braces, which would become the hash tag', () => {
    expect(() => redisKeys('{gw}:')).toThrow(/may not contain \{ or \}/)
    expect(() => redisKeys('gw}')).toThrow(TypeError)
  })
})
