/**
 * Entry of the upstream child: `node --import tsx scripts/bench/upstream-process.ts`. Runs the
 * Dune-like example upstream (test/support/example-upstream.ts) on 127.0.0.1 without request
 * recording, in a process of its own so it never shares an event loop with the load generator
 * or a gateway, and prints its URL as a JSON line (child-protocol.ts).
 */
import { startExampleUpstream } from '../../test/support/example-upstream.js'
import { serveAsChild } from './child-protocol.js'

const upstream = await startExampleUpstream({ record: false })
serveAsChild({ url: upstream.url, stop: () => upstream.close() })
