/**
 * Serving the discovery documents (pricing/discovery.ts) at their configured paths, for GET and
 * HEAD. They are answered before the payment gate: never charged, never forwarded.
 */
import type { Hono } from 'hono'
import type { DiscoveryDocuments } from '../pricing/discovery.js'

export function mountDiscovery<E extends object>(
  app: Hono<E & { Bindings: object; Variables: object }>,
  documents: DiscoveryDocuments | undefined,
): void {
  for (const document of [documents?.openapi, documents?.llms]) {
    if (!document) continue
    app.get(document.path, (c) => {
      c.header('content-type', document.contentType)
      // Prices change only with the configuration; a short lifetime keeps caches honest.
      c.header('cache-control', 'public, max-age=60')
      return c.body(document.body)
    })
  }
}
