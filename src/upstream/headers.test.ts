import { describe, expect, it } from 'vitest'
import { forwardRequestHeaders, responseHeaders } from './headers.js'

const base = { clientAddress: '10.0.0.9', proto: 'http', inject: {} } as const

/** The flat list as `name: value` lines, for readable assertions. */
function lines(flat: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < flat.length; i += 2) out.push(`${flat[i]}: ${flat[i + 1]}`)
  return out
}

describe('forwardRequestHeaders', () => {
  it('keeps end-to-end headers in order and casing, and adds X-Forwarded-*', () => {
    const out = forwardRequestHeaders({
      ...base,
      rawHeaders: [
        'Host',
        'gw.example',
        'Accept',
        'application/json',
        'X-Trace',
        'a',
        'x-trace',
        'b',
      ],
    })
    expect(lines(out)).toEqual([
      'Accept: application/json',
      'X-Trace: a',
      'x-trace: b',
      'x-forwarded-for: 10.0.0.9',
      'x-forwarded-proto: http',
      'x-forwarded-host: gw.example',
    ])
  })

  it('drops hop-by-hop headers, Expect, and every header the Connection header names', () => {
    const out = forwardRequestHeaders({
      ...base,
      // prettier-ignore
      rawHeaders: [
        'Connection', 'keep-alive, X-Hop',
        'Keep-Alive', 'timeout=5',
        'Proxy-Authorization', 'Basic eA==',
        'Proxy-Connection', 'keep-alive',
        'TE', 'trailers',
        'Trailer', 'X-T',
        'Transfer-Encoding', 'chunked',
        'Upgrade', 'h2c',
        'HTTP2-Settings', 'AAA',
        'Expect', '100-continue',
        'x-hop', 'secret-hop',
        'X-Kept', 'yes',
      ],
    })
    expect(lines(out)).toEqual([
      'X-Kept: yes',
      'x-forwarded-for: 10.0.0.9',
      'x-forwarded-proto: http',
    ])
  })

  it('drops payment headers but keeps non-Payment Authorization schemes', () => {
    const paid = forwardRequestHeaders({
      ...base,
      // prettier-ignore
      rawHeaders: [
        'Authorization', 'Payment eyJjaGFsbGVuZ2UiOnt9fQ',
        'Payment-Authorization', 'Payment eyJjaGFsbGVuZ2UiOnt9fQ',
        'Payment-Session', 's',
        'payment-session-snapshot', 'snap',
        'Accept-Payment', 'tempo/session',
        'Payment-Receipt', 'forged',
      ],
    })
    expect(lines(paid)).toEqual(['x-forwarded-for: 10.0.0.9', 'x-forwarded-proto: http'])

    for (const value of ['PAYMENT abc', '  payment abc', 'Payment']) {
      const out = forwardRequestHeaders({ ...base, rawHeaders: ['authorization', value] })
      expect(lines(out)).not.toContain(`authorization: ${value}`)
    }
    for (const value of ['Bearer tok', 'Basic dTpw', 'Paymentish x']) {
      const out = forwardRequestHeaders({ ...base, rawHeaders: ['Authorization', value] })
      expect(lines(out)).toContain(`Authorization: ${value}`)
    }
  })

  it('states its own observation of the client, dropping every client-sent forwarding header', () => {
    const out = forwardRequestHeaders({
      ...base,
      proto: 'https',
      // prettier-ignore
      rawHeaders: [
        'X-Forwarded-For', '203.0.113.7',
        'x-forwarded-for', '198.51.100.2, 192.0.2.1',
        'X-Forwarded-Proto', 'gopher',
        'X-Forwarded-Host', 'evil.example',
        'X-Forwarded-Port', '1',
        'X_Forwarded_For', '192.0.2.99',
        'Forwarded', 'for=192.0.2.60;proto=http',
        'X-Real-IP', '192.0.2.61',
        'X-Client-IP', '192.0.2.62',
        'True-Client-IP', '192.0.2.63',
        'X-Original-URL', '/admin',
        'X-Rewrite-URL', '/admin',
        'X-HTTP-Method-Override', 'DELETE',
        'X-Http-Method', 'DELETE',
        'X-Method-Override', 'DELETE',
        'host', 'gw.example:8443',
        'Accept', '*/*',
      ],
    })
    expect(lines(out)).toEqual([
      'Accept: */*',
      'x-forwarded-for: 10.0.0.9',
      'x-forwarded-proto: https',
      'x-forwarded-host: gw.example:8443',
    ])
  })

  it("passes a trusted proxy's forwarding headers on, appending the peer to its chain", () => {
    const out = forwardRequestHeaders({
      ...base,
      trustedPeer: true,
      // prettier-ignore
      rawHeaders: [
        'X-Forwarded-For', '203.0.113.7',
        'x-forwarded-for', '198.51.100.2, 192.0.2.1',
        'X-Forwarded-Proto', 'https',
        'X-Forwarded-Host', 'api.example',
        'Forwarded', 'for=203.0.113.7',
        'X-Real-IP', '203.0.113.7',
        'X-Original-URL', '/admin',
        'X-HTTP-Method-Override', 'DELETE',
        'host', 'gw.internal',
      ],
    })
    expect(lines(out)).toEqual([
      'Forwarded: for=203.0.113.7',
      'X-Real-IP: 203.0.113.7',
      'x-forwarded-for: 203.0.113.7, 198.51.100.2, 192.0.2.1, 10.0.0.9',
      'x-forwarded-proto: https',
      'x-forwarded-host: api.example',
    ])
  })

  it('sends no X-Forwarded-For when the peer address is unknown and no proxy is trusted', () => {
    const out = forwardRequestHeaders({
      ...base,
      clientAddress: undefined,
      rawHeaders: ['X-Forwarded-For', '203.0.113.7'],
    })
    expect(lines(out)).toEqual(['x-forwarded-proto: http'])
  })

  it('never forwards an Authorization line holding a Payment credential anywhere in it', () => {
    for (const value of [
      'Bearer tok, Payment eyJhIjoxfQ',
      'Payment eyJhIjoxfQ, Bearer tok',
      'Digest username="a", realm="b", Payment x',
    ]) {
      const out = forwardRequestHeaders({ ...base, rawHeaders: ['Authorization', value] })
      expect(
        lines(out).some((line) => /^authorization:/i.test(line)),
        value,
      ).toBe(false)
    }
    // An auth-param named "payment" is not a Payment credential.
    const param = forwardRequestHeaders({
      ...base,
      rawHeaders: ['Authorization', 'Digest username="a", payment="x"'],
    })
    expect(lines(param)).toContain('Authorization: Digest username="a", payment="x"')
  })

  it('judges "_" like "-" in client header names', () => {
    const out = forwardRequestHeaders({
      ...base,
      inject: { 'X-Dune-Api-Key': 'operator-secret' },
      // prettier-ignore
      rawHeaders: [
        'X_Dune_Api_Key', 'client-own',
        'x-dune_api-key', 'client-other',
        'Payment_Session', 's',
        'Connection', 'X_Hop',
        'x-hop', 'hop',
        'X_Custom', 'kept',
      ],
    })
    expect(lines(out)).toEqual([
      'X_Custom: kept',
      'x-forwarded-for: 10.0.0.9',
      'x-forwarded-proto: http',
      'X-Dune-Api-Key: operator-secret',
    ])
  })

  it('injects configured headers, replacing same-named client headers case-insensitively', () => {
    const out = forwardRequestHeaders({
      ...base,
      inject: { 'X-Api-Key': 'operator-secret', authorization: 'Bearer upstream' },
      // prettier-ignore
      rawHeaders: [
        'x-api-key', 'client-own',
        'X-API-KEY', 'client-other',
        'Authorization', 'Bearer client',
        'Accept', '*/*',
      ],
    })
    expect(lines(out)).toEqual([
      'Accept: */*',
      'x-forwarded-for: 10.0.0.9',
      'x-forwarded-proto: http',
      'X-Api-Key: operator-secret',
      'authorization: Bearer upstream',
    ])
  })

  it('lets configured headers replace X-Forwarded-* too', () => {
    const out = forwardRequestHeaders({
      ...base,
      inject: { 'X-Forwarded-Proto': 'https' },
      rawHeaders: [],
    })
    expect(lines(out)).toEqual(['x-forwarded-for: 10.0.0.9', 'X-Forwarded-Proto: https'])
  })

  it("sends the gateway's request id in place of the client's, unless configured", () => {
    const clientSent = ['X-Request-Id', 'from-client', 'x-request-id', 'again', 'Accept', '*/*']
    expect(
      lines(forwardRequestHeaders({ ...base, rawHeaders: clientSent, requestId: 'gw-1' })),
    ).toEqual([
      'Accept: */*',
      'x-forwarded-for: 10.0.0.9',
      'x-forwarded-proto: http',
      'x-request-id: gw-1',
    ])
    // Without an id of the gateway's, the client's headers pass as they are.
    expect(lines(forwardRequestHeaders({ ...base, rawHeaders: clientSent }))).toEqual([
      'X-Request-Id: from-client',
      'x-request-id: again',
      'Accept: */*',
      'x-forwarded-for: 10.0.0.9',
      'x-forwarded-proto: http',
    ])
    const configured = forwardRequestHeaders({
      ...base,
      rawHeaders: clientSent,
      requestId: 'gw-1',
      inject: { 'X-Request-Id': 'fixed' },
    })
    expect(lines(configured).filter((line) => /request-id/i.test(line))).toEqual([
      'X-Request-Id: fixed',
    ])
  })

  it('keeps Content-Length once and drops Transfer-Encoding', () => {
    const out = forwardRequestHeaders({
      ...base,
      rawHeaders: ['Content-Length', '5', 'content-length', '5', 'Transfer-Encoding', 'chunked'],
    })
    expect(lines(out).filter((l) => l.toLowerCase().startsWith('content-length'))).toEqual([
      'Content-Length: 5',
    ])
    expect(lines(out).some((l) => l.toLowerCase().startsWith('transfer-encoding'))).toBe(false)
  })
})

describe('responseHeaders', () => {
  it('keeps end-to-end headers and repeated Set-Cookie', () => {
    expect(
      responseHeaders({
        upstream: {
          'content-type': 'application/json',
          'content-length': '12',
          'set-cookie': ['a=1', 'b=2'],
          etag: '"x"',
        },
        extra: {},
      }),
    ).toEqual({
      'content-type': 'application/json',
      'content-length': '12',
      'set-cookie': ['a=1', 'b=2'],
      etag: '"x"',
    })
  })

  it('drops hop-by-hop headers and the ones Connection names', () => {
    expect(
      responseHeaders({
        upstream: {
          connection: 'keep-alive, X-Internal',
          'keep-alive': 'timeout=5',
          'transfer-encoding': 'chunked',
          trailer: 'x',
          upgrade: 'h2c',
          'proxy-authenticate': 'Basic',
          'x-internal': 'hop',
          'x-public': 'kept',
        },
        extra: {},
      }),
    ).toEqual({ 'x-public': 'kept' })
  })

  it('drops the upstream Payment-Receipt and lets extra headers win case-insensitively', () => {
    expect(
      responseHeaders({
        upstream: { 'payment-receipt': 'forged', 'cache-control': 'public, max-age=60' },
        extra: { 'Payment-Receipt': 'gateway', 'Cache-Control': 'private' },
      }),
    ).toEqual({ 'Payment-Receipt': 'gateway', 'Cache-Control': 'private' })
  })

  it('removes Payment challenges from WWW-Authenticate and keeps the others', () => {
    const filter = (value: string | string[]) =>
      responseHeaders({ upstream: { 'www-authenticate': value }, extra: {} })['www-authenticate']

    expect(filter('Payment id="x", realm="a, b", method="tempo"')).toBeUndefined()
    expect(filter('payment')).toBeUndefined()
    expect(filter('Bearer realm="api", error="invalid_token"')).toBe(
      'Bearer realm="api", error="invalid_token"',
    )
    expect(filter('Bearer realm="payment, Payment x", Payment id="1", intent="session"')).toBe(
      'Bearer realm="payment, Payment x"',
    )
    expect(filter('Payment id="1", Basic realm="b", Negotiate abc==')).toBe(
      'Basic realm="b", Negotiate abc==',
    )
    expect(filter(['Payment id="1"', 'Bearer realm="x"'])).toBe('Bearer realm="x"')
    expect(filter(['Payment id="1"', 'payment id="2"'])).toBeUndefined()
    expect(filter(['Basic realm="a"', 'Bearer realm="x"'])).toEqual([
      'Basic realm="a"',
      'Bearer realm="x"',
    ])
  })
})
