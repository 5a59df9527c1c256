import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../errors.js'
import { isNoScript, isUnavailable, ledgerFailure } from './errors.js'

/** An error shaped like the replies ioredis rejects with. */
const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' })

describe('what a Redis failure means', () => {
  it.each([
    new Error('Connection is closed.'),
    new Error("Stream isn't writeable and enableOfflineQueue options is false"),
    new Error('Command timed out'),
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
    reply('LOADING Redis is loading the dataset in memory'),
    reply("READONLY You can't write against a read only replica."),
    reply("OOM command not allowed when used memory > 'maxmemory'."),
    reply('BUSY Redis is busy running a script.'),
    reply('MASTERDOWN Link with MASTER is down'),
    reply('WRONGPASS invalid username-password pair or user is disabled.'),
  ])('$message → ledger-unavailable', (error) => {
    expect(isUnavailable(error)).toBe(true)
    const failure = ledgerFailure(error, 'authorize')
    expect(failure).toBeInstanceOf(GatewayError)
    expect(failure).toMatchObject({ code: 'ledger-unavailable', retryAfter: 1 })
    expect(failure.cause).toMatchObject({ name: error.name, message: error.message })
  })

  it('keeps defects (Lua errors, wrong types) as plain errors with their cause', () => {
    const error = reply('ERR user_script:12: ledger: negative amount')
    expect(isUnavailable(error)).toBe(false)
    const failure = ledgerFailure(error, 'commit')
    expect(failure).not.toBeInstanceOf(GatewayError)
    expect(failure.message).toBe('ledger: Redis failed commit')
    expect(failure.cause).toMatchObject({ name: 'ReplyError', message: error.message })
  })

  it('never carries the arguments of the failed command (AUTH carries the password)', () => {
    const error = Object.assign(reply('WRONGPASS invalid username-password pair'), {
      command: { name: 'auth', args: ['user', 'hunter2'] },
    })
    const failure = ledgerFailure(error, 'connect')
    expect(JSON.stringify(failure.cause)).not.toContain('hunter2')
    expect(failure.cause).toMatchObject({ command: 'auth', message: error.message })
  })

  it('recognizes NOSCRIPT', () => {
    expect(isNoScript(reply('NOSCRIPT No matching script. Please use EVAL.'))).toBe(true)
    expect(isNoScript(new Error('NOSCRIPT but not a reply'))).toBe(false)
  })
})
