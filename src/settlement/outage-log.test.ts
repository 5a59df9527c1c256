import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors.js'
import { createLogger } from '../logger.js'
import { createFailureLog } from '../failure-log.js'
import { createOutageLog } from './outage-log.js'

function recorded() {
  const lines: Record<string, unknown>[] = []
  const logger = createLogger({
    level: 'debug',
    destination: {
      write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>),
    },
  })
  return { logger, lines }
}

const outage = () =>
  new GatewayError('ledger-unavailable', 'The channel ledger is unavailable.', {
    retryAfter: 1,
    cause: new Error('Connection is closed.'),
  })

const failing = (error: Error) => () => Promise.reject(error)
const passing = () => Promise.resolve()

describe('outage log', () => {
  it('logs an outage once at warn without a stack, repeats at debug, and the recovery once', async () => {
    const { logger, lines } = recorded()
    const log = createOutageLog(logger, 'settlement')
    for (let round = 0; round < 5; round++) {
      await log.round(failing(outage()), 'settlement round failed')
    }
    await log.round(passing, 'settlement round failed')
    await log.round(passing, 'settlement round failed')

    expect(lines.map((l) => l.level)).toEqual([40, 20, 20, 20, 20, 30])
    expect(lines[0]).toMatchObject({
      code: 'ledger-unavailable',
      cause: 'Connection is closed.',
      msg: 'settlement round failed: the ledger is unavailable; settlement resumes when it returns',
    })
    expect(JSON.stringify(lines)).not.toContain('stack')
    expect(lines.at(-1)!.msg).toBe('the ledger is reachable again; settlement resumed')

    await log.round(failing(outage()), 'settlement round failed')
    expect(lines.at(-1)!.level).toBe(40)
  })

  it('does not call it a recovery when a step of the round met the outage', async () => {
    const { logger, lines } = recorded()
    const log = createOutageLog(logger, 'settlement')
    await log.round(failing(outage()), 'settlement round failed')
    await log.round(async () => {
      // A step that catches and logs its own failure: the round as a whole completes.
      log.failed(outage(), 'settlement lock not released', { fields: { channelId: '0x01' } })
    }, 'settlement round failed')
    expect(lines.map((l) => l.level)).toEqual([40, 20])
    expect(lines[1]).toMatchObject({ channelId: '0x01', msg: 'settlement lock not released' })
  })

  it('logs any other failure as it comes, as a one-line summary, at the level asked for', async () => {
    const { logger, lines } = recorded()
    const log = createOutageLog(logger, 'settlement')
    await log.round(failing(new Error('nonce too low')), 'settlement round failed', {
      level: 'error',
    })
    log.failed(new Error('nonce too low'), 'settlement not done: error', {
      fields: { channelId: '0x01' },
    })
    expect(lines.map((l) => l.level)).toEqual([50, 40])
    expect(lines[1]).toMatchObject({ channelId: '0x01', error: 'Error: nonce too low' })
    // A summary, never a stack: background failures repeat, and a stack per line floods the log.
    expect(JSON.stringify(lines)).not.toContain('at ')
  })

  it('hands failures other than an outage to a rate-limited log when given one', async () => {
    const { logger, lines } = recorded()
    const others = createFailureLog({ logger, what: 'close watcher round', now: () => 0 })
    const log = createOutageLog(logger, 'the close watcher', { others })
    for (let i = 0; i < 5; i++) await log.round(failing(new Error('rpc down')), 'round failed')
    await log.round(async () => {}, 'round failed')
    expect(lines.map((l) => l.msg)).toEqual([
      'close watcher round failing',
      'close watcher round recovered',
    ])
  })
})
