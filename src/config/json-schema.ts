/**
 * The JSON Schema of gateway.yaml for editors (completion, hover docs, early errors), generated
 * from the zod schema's input side so it can never drift from what the loader accepts.
 * `scripts/gen-config-schema.ts` writes it to config/gateway.schema.json; a test fails when the
 * committed file is stale.
 *
 * Invariant: every value the schema constrains (numbers, booleans, patterns, enums, URLs) also
 * accepts a string containing a `${NAME}` reference, because the editor sees the file before
 * expansion; the loader checks the expanded value. Map keys are never expanded, so their
 * constraints stay as they are.
 */
import { z } from 'zod'
import { configSchema } from './schema.js'

type JsonSchema = { [key: string]: unknown }

/** Where the committed schema lives (gateway.yaml points editors at it). */
export const configJsonSchemaUrl = new URL('../../config/gateway.schema.json', import.meta.url)

/** Any string holding a `${NAME}` or `${NAME:-default}` reference. */
const envReference: JsonSchema = {
  type: 'string',
  pattern: '\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}',
}

const annotations = new Set(['title', 'description', 'default'])

function isObject(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isConstrainedScalar(node: JsonSchema): boolean {
  if (node.type === 'integer' || node.type === 'number' || node.type === 'boolean') return true
  return (
    node.type === 'string' &&
    ['pattern', 'enum', 'format', 'minLength', 'const'].some((keyword) => keyword in node)
  )
}

/** Lets every constrained scalar in `node` also be a `${NAME}` reference. */
function allowEnvReferences(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(allowEnvReferences)
  if (!isObject(node)) return node
  if (isConstrainedScalar(node)) {
    const kept = Object.entries(node).filter(([key]) => annotations.has(key))
    const constraint = Object.fromEntries(
      Object.entries(node).filter(([key]) => !annotations.has(key)),
    )
    return { ...Object.fromEntries(kept), anyOf: [constraint, envReference] }
  }
  const result: JsonSchema = {}
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties' && isObject(value)) {
      result[key] = Object.fromEntries(
        Object.entries(value).map(([name, child]) => [name, allowEnvReferences(child)]),
      )
    } else if (key === 'additionalProperties' || key === 'items' || key === 'anyOf') {
      result[key] = allowEnvReferences(value)
    } else {
      result[key] = value
    }
  }
  return result
}

/** The JSON Schema (draft-07) of what an operator writes in gateway.yaml. */
export function configJsonSchema(): JsonSchema {
  const generated = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-07' })
  const { $schema, ...rest } = generated
  return {
    $schema,
    title: 'mpp-gateway configuration (gateway.yaml)',
    description:
      'An HTTP gateway that charges machine clients per request with MPP Tempo sessions. ' +
      'String values may use ${NAME} or ${NAME:-default} environment references.',
    ...(allowEnvReferences(rest) as JsonSchema),
  }
}

/** The schema as the committed file holds it: two-space JSON and a final newline. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`
}
