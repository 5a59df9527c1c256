/**
 * Writes config/gateway.schema.json, the editor schema of gateway.yaml, from the zod schema.
 * Run after changing src/config/; a test fails while the committed file is stale.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { configJsonSchemaText, configJsonSchemaUrl } from '../src/config/json-schema.js'

writeFileSync(configJsonSchemaUrl, configJsonSchemaText())
console.log(`wrote ${fileURLToPath(configJsonSchemaUrl)}`)
