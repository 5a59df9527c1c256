import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { configJsonSchema, configJsonSchemaText, configJsonSchemaUrl } from './json-schema.js'

/** The node at `path` in a JSON value. */
function at(node: unknown, ...path: string[]): unknown {
  return path.reduce<unknown>(
    (current, key) =>
      typeof current === 'object' && current !== null
        ? (current as Record<string, unknown>)[key]
        : undefined,
    node,
  )
}

describe('config/gateway.schema.json', () => {
  it('matches a fresh generation from the zod schema (run `npm run config:schema`)', () => {
    expect(readFileSync(configJsonSchemaUrl, 'utf8')).toBe(configJsonSchemaText())
  })

  it('describes the input side: strict objects, string prices, env references allowed', () => {
    const schema = configJsonSchema()
    expect(schema.additionalProperties).toBe(false)
    expect(schema.required).toEqual(['server', 'chain', 'payee', 'currency', 'upstreams', 'routes'])
    const route = at(schema, 'properties', 'routes', 'items')
    expect(at(route, 'additionalProperties')).toBe(false)
    expect(at(route, 'properties', 'price', 'anyOf', '0')).toMatchObject({
      type: 'string',
      pattern: '^free$|^(0|[1-9][0-9]*)(\\.[0-9]+)?$',
    })
    expect(at(schema, 'properties', 'server', 'properties', 'port')).toMatchObject({
      default: 8080,
      anyOf: [{ type: 'integer', minimum: 0, maximum: 65535 }, { type: 'string' }],
    })
    // Map keys are never expanded, so they keep their own constraint only.
    expect(at(schema, 'properties', 'upstreams', 'propertyNames')).toEqual({
      type: 'string',
      pattern: '^[A-Za-z0-9][A-Za-z0-9_-]*$',
    })
  })

  it('is referenced by the root gateway.yaml', () => {
    const root = readFileSync(new URL('../../gateway.yaml', import.meta.url), 'utf8')
    expect(root.split('\n')[0]).toBe('# yaml-language-server: $schema=./config/gateway.schema.json')
  })
})
