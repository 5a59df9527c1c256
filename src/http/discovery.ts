/**
 * Serving the discovery documents (pricing/discovery.ts) at their configured paths, for GET and
 * HEAD. They are answered before the payment gate: never charged, never forwarded. The documents
 * are the request's configuration generation's, so a reload that changes prices (or moves a
 * document) shows in the next request.
 */
import type { Context, Hono } from 'hono'
import type { DiscoveryDocuments } from '../pricing/discovery.js'

export function mountDiscovery<E extends { Bindings: object; Variables: object }>(
  app: Hono<E>,
  documentsOf: (c: Context<E>) => DiscoveryDocuments | undefined,
): void {
  app.on(['GET', 'HEAD'], '*', async (c, next) => {
    const documents = documentsOf(c)
    const document = [documents?.openapi, documents?.llms].find((d) => d?.path === c.req.path)
    if (!document) return next()
    c.header('content-type', document.contentType)
    // Prices change only with the configuration; a short lifetime keeps caches honest.
    c.header('cache-control', 'public, max-age=60')
    return c.body(document.body)
  })
}
