import { ContractFunctionExecutionError, HttpRequestError } from 'viem'
import { describe, expect, it } from 'vitest'
import { escrowAbi } from './chain/escrow-abi.js'
import { createFailureLog, errorSummary } from './failure-log.js'
import { createLogger } from './logger.js'

function logged() {
  const lines: Record<string, unknown>[] = []
  const logger = createLogger({
    level: 'debug',
    destination: {
      write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>),
    },
  })
  return { logger, lines }
}

describe('createFailureLog', () => {
  it('logs the start of a run of failures, at most one line per interval, and its end', () => {
    const { logger, lines } = logged()
    let now = 0
    const log = createFailureLog({ logger, what: 'round', now: () => now, repeatMs: 1_000 })
    for (let i = 0; i < 50; i++) {
      log.failed(new Error(`boom ${i}`))
      now += 100
    }
    log.succeeded()
    log.succeeded()
    expect(lines.map((line) => [line.msg, line.failures])).toEqual([
      ['round failing', undefined],
      ['round still failing', 11],
      ['round still failing', 21],
      ['round still failing', 31],
      ['round still failing', 41],
      ['round recovered', 50],
    ])
    expect(log.failing()).toBe(false)
  })
})

describe('errorSummary', () => {
  it("keeps a viem error's short message, never its call, ABI or stack", () => {
    const cause = new HttpRequestError({
      url: 'http://127.0.0.1:1',
      body: { method: 'eth_call', params: ['0x'.padEnd(4_000, 'ab')] },
      details: 'fetch failed',
    })
    const error = new ContractFunctionExecutionError(cause, {
      abi: escrowAbi,
      functionName: 'getChannelState',
      args: [`0x${'11'.repeat(32)}`],
      contractAddress: '0x4d50500000000000000000000000000000000000',
    })
    expect(error.message.length).toBeGreaterThan(1_000)
    const summary = errorSummary(error)
    expect(summary.length).toBeLessThanOrEqual(300)
    expect(summary).toMatch(/^ContractFunctionExecutionError: /)
    expect(summary).not.toMatch(/\n|getChannelState\(|abi|0xabab/)
  })

  it('takes the first line of other errors and their code', () => {
    const error = Object.assign(new Error('first\nsecond'), { code: 'ECONNREFUSED' })
    expect(errorSummary(error)).toBe('Error: first [ECONNREFUSED]')
    expect(errorSummary('text')).toBe('text')
  })
})
