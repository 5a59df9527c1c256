/**
 * gateway.yaml as a YAML document: parsed with positions, so every problem can be pinned to a
 * line, and with its string values open to rewriting (the `${ENV}` expansion) before conversion
 * to plain data.
 *
 * Why hexadecimal and octal integers are turned off: YAML 1.2 reads an unquoted `0x20c0…` as a
 * number, which would silently turn every unquoted address and key into a float. Here such
 * scalars stay strings. Syntax problems are reported without the source excerpt the parser can
 * print, since that line may hold a secret.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml'
import type { ConfigIssue, PathSegment } from './errors.js'

/** A parsed YAML document and the line index of its text. */
export type YamlSource = {
  readonly document: Document.Parsed
  readonly lines: LineCounter
}

/** Parses YAML text; `issues` lists syntax problems (the document is unusable if there are any). */
export function parseYaml(text: string): { source: YamlSource; issues: ConfigIssue[] } {
  const lines = new LineCounter()
  const document = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    schema: 'core',
    customTags: (tags) =>
      tags.filter(
        (tag) =>
          typeof tag === 'string' ||
          !('format' in tag) ||
          (tag.format !== 'HEX' && tag.format !== 'OCT'),
      ),
  })
  const issues = document.errors.map((error): ConfigIssue => ({
    path: '',
    message: `YAML syntax: ${error.message}`,
    line: lines.linePos(error.pos[0]).line,
  }))
  return { source: { document, lines }, issues }
}

/** A string value of the document, with the means to replace it. */
export type StringValue = {
  readonly path: PathSegment[]
  readonly value: string
  readonly replace: (next: string) => void
}

/** Calls `visit` for every string scalar value of the document (map keys are not values). */
export function forEachString(source: YamlSource, visit: (entry: StringValue) => void): void {
  const walk = (node: unknown, path: PathSegment[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (isScalar(pair.key)) walk(pair.value, [...path, String(pair.key.value)])
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => walk(item, [...path, index]))
    } else if (isScalar(node) && typeof node.value === 'string') {
      visit({
        path,
        value: node.value,
        replace: (next) => {
          node.value = next
        },
      })
    }
  }
  walk(source.document.contents, [])
}

/**
 * The document as plain data (maps become objects, aliases are resolved), or the problem that
 * prevents it: an alias without its anchor, or so many aliases that expanding them could exhaust
 * memory.
 */
export function toData(source: YamlSource): { data: unknown } | { problem: string } {
  try {
    return { data: source.document.toJS({ maxAliasCount: 100 }) }
  } catch (error) {
    return { problem: `YAML: ${error instanceof Error ? error.message : 'cannot be read'}` }
  }
}

/**
 * The 1-based line of the value at `path`: the line of its key for a map entry, of the item for a
 * list entry. A path that does not exist (a missing key) resolves to its nearest existing parent;
 * a missing top-level key has no line.
 */
export function lineOf(source: YamlSource, path: readonly PropertyKey[]): number | undefined {
  let node: unknown = source.document.contents
  let offset =
    path.length === 0 && (isScalar(node) || isMap(node) || isSeq(node))
      ? node.range?.[0]
      : undefined
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(source.document)
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isScalar(item.key) && String(item.key.value) === String(segment),
      )
      if (pair === undefined || !isScalar(pair.key)) break
      offset = pair.key.range?.[0] ?? offset
      node = pair.value
    } else if (isSeq(node) && typeof segment === 'number') {
      const item: unknown = node.items[segment]
      if (!(isScalar(item) || isMap(item) || isSeq(item) || isAlias(item))) break
      offset = item.range?.[0] ?? offset
      node = item
    } else {
      break
    }
  }
  return offset === undefined ? undefined : source.lines.linePos(offset).line
}
