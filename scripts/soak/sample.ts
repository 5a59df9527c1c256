/**
 * What a soak samples, each a plain read with no effect on the system under test: a process's
 * RSS and open file descriptors (from /proc), Redis's memory and its keys by family (from `INFO`
 * and `SCAN`, with which keys carry no TTL and whether they belong to an open channel), and the
 * gateway's log lines read incrementally (errors, warnings, settlements, closes, unknown
 * outcomes). Linux only (/proc).
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs'
import type { Redis } from 'ioredis'
import type { Hex } from 'viem'
import { redisKeys } from '../../src/ledger/redis/keys.js'

/** RSS in bytes and open file descriptors of a process; zeros when it is gone. */
export function processFigures(pid: number): { rss: number; fds: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? 0)
    return { rss: kb * 1024, fds: readdirSync(`/proc/${pid}/fd`).length }
  } catch {
    return { rss: 0, fds: 0 }
  }
}

/** The key families of docs/DESIGN.md "Redis key schema", by the part after the prefix. */
export const families = [
  'ch',
  'res',
  'lock',
  'fence',
  'intent',
  'unsettled',
  'intents',
  'cursor',
] as const
export type Family = (typeof families)[number] | 'other'

/** The family of a key, given as the text after `{<prefix>` (keys.ts). */
function familyOf(rest: string): { family: Family; channel?: string } {
  const tagged = /^(0x[0-9a-f]{64})\}:(ch|res|lock|fence|intent)$/.exec(rest)
  if (tagged) return { family: tagged[2] as Family, channel: tagged[1]! }
  if (/^unsettled:\d+\}$/.test(rest)) return { family: 'unsettled' }
  if (/^intents:\d+\}$/.test(rest)) return { family: 'intents' }
  if (rest === 'watcher}:cursor') return { family: 'cursor' }
  return { family: 'other' }
}

export type RedisFigures = {
  readonly usedMemory: number
  readonly keys: Readonly<Record<Family, number>>
  /** Keys with no TTL, by family. */
  readonly persistent: Readonly<Record<Family, number>>
  /** Persistent per-channel keys whose channel is not open (nothing should ever leave one). */
  readonly strays: number
  readonly openChannels: number
}

export async function redisFigures(client: Redis, prefix: string): Promise<RedisFigures> {
  const info = await client.info('memory')
  const usedMemory = Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0)
  const names: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `{${prefix}*`, 'COUNT', 1000)
    cursor = next
    names.push(...batch)
  } while (cursor !== '0')
  const reading = client.pipeline()
  for (const name of names) reading.pttl(name)
  const ttls = ((await reading.exec()) ?? []).map(([, ttl]) => Number(ttl))
  const zero = () =>
    Object.fromEntries([...families, 'other'].map((f) => [f, 0])) as Record<Family, number>
  const keys = zero()
  const persistent = zero()
  const parsed = names.map((name) => familyOf(name.slice(prefix.length + 1)))
  const channels = [...new Set(parsed.flatMap((p) => (p.channel ? [p.channel] : [])))]
  const statusReading = client.pipeline()
  for (const id of channels) statusReading.hget(redisKeys(prefix).channel(id as Hex), 'status')
  const statuses = new Map(
    ((await statusReading.exec()) ?? []).map(([, status], i) => [
      channels[i]!,
      status as string | null,
    ]),
  )
  let strays = 0
  parsed.forEach(({ family, channel }, i) => {
    keys[family] += 1
    if (ttls[i] !== -1) return
    persistent[family] += 1
    if (channel && statuses.get(channel) !== 'open' && statuses.get(channel) !== 'closing')
      strays += 1
  })
  const openChannels = [...statuses.values()].filter((s) => s === 'open' || s === 'closing').length
  return { usedMemory, keys, persistent, strays, openChannels }
}

/** Counts of the gateway's log lines so far. */
export type LogCounts = {
  errors: number
  warnings: number
  settled: number
  closed: number
  unknownOutcomes: number
  noEvent: number
  /** The first error-level lines, for the report. */
  readonly errorSamples: string[]
  /** Amount of each settlement (base units): its cumulative minus the channel's previous one. */
  readonly settleDeltas: bigint[]
}

/** Reads a growing pino log file from where it left off; returns the running counts. */
export function createLogTail(path: string): { read(): LogCounts } {
  const counts: LogCounts = {
    errors: 0,
    warnings: 0,
    settled: 0,
    closed: 0,
    unknownOutcomes: 0,
    noEvent: 0,
    errorSamples: [],
    settleDeltas: [],
  }
  const lastSettled = new Map<string, bigint>()
  let offset = 0
  let partial = ''
  const buffer = Buffer.alloc(1 << 20)
  const take = (line: string) => {
    let entry: { level?: number; msg?: string; kind?: string; channelId?: string; amount?: string }
    try {
      entry = JSON.parse(line) as typeof entry
    } catch {
      return
    }
    const msg = entry.msg ?? ''
    if ((entry.level ?? 0) >= 50) {
      counts.errors += 1
      if (counts.errorSamples.length < 5) counts.errorSamples.push(line.slice(0, 400))
    } else if ((entry.level ?? 0) >= 40) counts.warnings += 1
    if (msg === 'channel settled') {
      counts.settled += 1
      if (entry.channelId !== undefined && entry.amount !== undefined) {
        const amount = BigInt(entry.amount)
        counts.settleDeltas.push(amount - (lastSettled.get(entry.channelId) ?? 0n))
        lastSettled.set(entry.channelId, amount)
      }
    }
    if (msg === 'channel closed') counts.closed += 1
    if (msg.includes('outcome unknown')) counts.unknownOutcomes += 1
    if (msg.includes('without the expected event') || msg.includes('carried no'))
      counts.noEvent += 1
  }
  return {
    read() {
      let fd: number
      try {
        fd = openSync(path, 'r')
      } catch {
        return counts
      }
      try {
        for (;;) {
          const n = readSync(fd, buffer, 0, buffer.length, offset)
          if (n === 0) break
          offset += n
          const lines = (partial + buffer.subarray(0, n).toString('utf8')).split('\n')
          partial = lines.pop() ?? ''
          for (const line of lines) if (line) take(line)
        }
      } finally {
        closeSync(fd)
      }
      return counts
    },
  }
}
