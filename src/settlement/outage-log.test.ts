import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors.js'
import { createLogger } from '../logger.js'
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

describe('outage log', () => {
  it('logs an outage once at warn without a stack, repeats at debug, and the recovery once', () => {
    const { logger, lines } = recorded()
    const log = createOutageLog(logger, 'settlement')
    for (let round = 0; round < 5; round++) log.failed(outage(), 'settlement round failed')
    log.succeeded()
    log.succeeded()

    expect(lines.map((l) => l.level)).toEqual([40, 20, 20, 20, 20, 30])
    expect(lines[0]).toMatchObject({
      code: 'ledger-unavailable',
      cause: 'Connection is closed.',
      msg: 'settlement round failed: the ledger is unavailable; settlement resumes when it returns',
    })
    expect(JSON.stringify(lines)).not.toContain('stack')
    expect(lines.at(-1)!.msg).toBe('the ledger is reachable again; settlement resumed')

    log.failed(outage(), 'settlement round failed')
    expect(lines.at(-1)!.level).toBe(40)
  })

  it('logs any other failure as it comes, with its error, at the level asked for', () => {
    const { logger, lines } = recorded()
    const log = createOutageLog(logger, 'settlement')
    log.failed(new Error('nonce too low'), 'settlement not done: error', {
      fields: { channelId: '0x01' },
      level: 'error',
    })
    log.failed(new Error('nonce too low'), 'settlement not done: error')
    expect(lines.map((l) => l.level)).toEqual([50, 40])
    expect(lines[0]).toMatchObject({ channelId: '0x01', err: { message: 'nonce too low' } })
    expect((lines[0]!.err as { stack?: string }).stack).toContain('nonce too low')
  })
})
