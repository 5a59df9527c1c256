import { BodyDigest } from 'mppx'
import { describe, expect, it } from 'vitest'
import { bodyDigest, verifyBodyDigest } from './digest.js'

const utf8 = (text: string) => new TextEncoder().encode(text)
const helloBody = utf8('{"hello": "world"}')

describe('bodyDigest: protocol.md §7.5 vectors', () => {
  it('digests {"hello": "world"}', () => {
    expect(bodyDigest(helloBody)).toBe('sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:')
  })

  it('digests the empty body', () => {
    expect(bodyDigest(new Uint8Array())).toBe(
      'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:',
    )
  })

  it('digests only the bytes a subarray views', () => {
    const framed = utf8('xx{"hello": "world"}yy')
    expect(bodyDigest(framed.subarray(2, -2))).toBe(bodyDigest(helloBody))
  })
})

describe('verifyBodyDigest', () => {
  it.each([
    ['the RFC 9530 form', 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:'],
    ['the RFC 9530 form without padding', 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE:'],
    ["mppx's bare form (protocol.md §7.1)", 'sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE'],
    ['the bare form with padding', 'sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE='],
    ['surrounding whitespace', '  sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=: '],
    ['what mppx BodyDigest.compute emits', BodyDigest.compute('{"hello": "world"}')],
  ])('accepts %s', (_name, header) => {
    expect(verifyBodyDigest(header, helloBody)).toBe(true)
  })

  it.each([
    ['another body', 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:'],
    ['a truncated hash', 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9D:'],
    ['another algorithm', 'sha-512=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:'],
    ['an uppercase algorithm', 'SHA-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:'],
    ['an unclosed byte sequence', 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE='],
    ['garbage', 'nope'],
    ['an empty value', ''],
  ])('rejects %s', (_name, header) => {
    expect(verifyBodyDigest(header, helloBody)).toBe(false)
  })

  it('reads standard base64 only, not the URL alphabet', () => {
    const empty = new Uint8Array()
    expect(verifyBodyDigest('sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:', empty)).toBe(
      true,
    )
    expect(verifyBodyDigest('sha-256=:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=:', empty)).toBe(
      false,
    )
  })

  it('rejects a correct digest for a changed body', () => {
    expect(verifyBodyDigest(bodyDigest(helloBody), utf8('{"hello": "World"}'))).toBe(false)
  })
})
