/**
 * Turns zod's schema problems into operator-facing ones: YAML words ("map", "list"), one problem
 * per unknown key, and limits stated plainly.
 *
 * Invariant: no message built here contains the rejected value; messages describe only its kind
 * (a number, a list…), so a secret expanded from the environment can never appear in one.
 */
import type { z } from 'zod'
import type { PathSegment } from './errors.js'

/** A problem at a path of the configuration, before it is located in the YAML text. */
export type PathIssue = { readonly path: PathSegment[]; readonly message: string }

const expectedWords: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a map',
  array: 'a list',
}

function kindOf(value: unknown): string {
  if (value === null) return 'empty'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a map'
  if (typeof value === 'boolean') return 'true/false'
  return `a ${typeof value}`
}

function describeLimit(limit: {
  origin: string
  inclusive?: boolean | undefined
  bound: string
  side: 'least' | 'most'
}): string {
  const { origin, bound, side } = limit
  if (origin === 'string') return `must be at ${side} ${bound} characters long`
  if (origin === 'array') return `must have at ${side} ${bound} entries`
  if (limit.inclusive === false)
    return `must be ${side === 'least' ? 'greater' : 'less'} than ${bound}`
  return `must be at ${side} ${bound}`
}

/** The per-parse zod error map: plain wording for the generic problems. */
export function configErrorMap(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return 'is required'
    return `must be ${expectedWords[issue.expected] ?? issue.expected}, not ${kindOf(issue.input)}`
  }
  if (issue.code === 'too_small') {
    return describeLimit({ ...issue, bound: String(issue.minimum), side: 'least' })
  }
  if (issue.code === 'too_big') {
    return describeLimit({ ...issue, bound: String(issue.maximum), side: 'most' })
  }
  return undefined
}

function toSegments(path: readonly PropertyKey[]): PathSegment[] {
  return path.map((segment) => (typeof segment === 'symbol' ? String(segment) : segment))
}

/** One operator-facing problem per zod issue (and per unknown key). */
export function wordIssues(issues: readonly z.core.$ZodIssue[]): PathIssue[] {
  return issues.flatMap((issue): PathIssue[] => {
    const path = toSegments(issue.path)
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        path: [...path, key],
        message: 'is not a known key (check its spelling and indentation)',
      }))
    }
    if (issue.code === 'invalid_key') {
      return [{ path, message: `invalid name: ${issue.issues[0]?.message ?? issue.message}` }]
    }
    return [{ path, message: issue.message }]
  })
}
