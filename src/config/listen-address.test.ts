import { describe, expect, it } from 'vitest'
import { listenAddress, readinessUrl } from './listen-address.js'

const url = (text: string, env: Record<string, string> = {}) => {
  const read = listenAddress(text, env)
  return read.ok ? readinessUrl(read.address) : read.problem
}

describe('listenAddress', () => {
  it('reads host, port and prefix, with defaults and ${ENV} references', () => {
    expect(url('server: { realm: x }')).toBe('http://127.0.0.1:8080/__gateway/readyz')
    expect(url('server:\n  port: ${GATEWAY_PORT:-8080}\n', { GATEWAY_PORT: '9091' })).toBe(
      'http://127.0.0.1:9091/__gateway/readyz',
    )
    expect(url('server:\n  port: ${GATEWAY_PORT:-8081}\n')).toBe(
      'http://127.0.0.1:8081/__gateway/readyz',
    )
    expect(url('server: { host: 10.0.0.5, port: 7000, reservedPrefix: /_gw/ }')).toBe(
      'http://10.0.0.5:7000/_gw/readyz',
    )
    expect(url('server: { host: "::", port: 7000 }')).toBe('http://[::1]:7000/__gateway/readyz')
    expect(url('server: { host: "::1", port: 7000 }')).toBe('http://[::1]:7000/__gateway/readyz')
  })

  it('names what it cannot read', () => {
    expect(url('server: { port: 0 }')).toBe('server.port is not a fixed port between 1 and 65535')
    expect(url('server:\n  port: ${MISSING}\n')).toBe(
      'server.port is not a fixed port between 1 and 65535',
    )
    expect(url('server: [')).toBe('the file is not valid YAML')
    expect(url('server: { host: { a: 1 } }')).toBe('server.host cannot be read')
  })
})
