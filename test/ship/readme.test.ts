/**
 * The README's first screen, as a newcomer meets it: the demo and the tests first, then the
 * compose deployment; every file its step table points to exists, and every file a command in
 * it needs is in the repository.
 */
import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

const readme = readFileSync('README.md', 'utf8')
const shellBlocks = [...readme.matchAll(/```sh\n([^]*?)```/g)].map((m) => m[1]!.trim())

describe('README', () => {
  it('opens with the demo and the tests, then runs the gateway with compose', () => {
    expect(shellBlocks.slice(0, 4)).toEqual([
      'npm ci && npm run demo',
      'npm run demo -- --keep',
      'npm ci && npm test',
      'cp .env.example .env\ndocker compose up -d',
    ])
    for (const file of ['.env.example', 'compose.yaml', 'gateway.yaml', 'Dockerfile'])
      expect(existsSync(file), file).toBe(true)
  })

  it('points its step table at files that exist', () => {
    const table = readme.slice(readme.indexOf('| step'), readme.indexOf('**Run the demo**'))
    const paths = [...table.matchAll(/`(src\/[^`*]+)`/g)].map((m) => m[1]!)
    expect(paths.length).toBeGreaterThan(10)
    for (const path of paths) expect(existsSync(path), path).toBe(true)
  })
})
