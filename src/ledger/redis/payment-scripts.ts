/**
 * The single-use claims of one-shot payments (a Tempo charge's transaction hash): taking a claim
 * and giving it back. Each is one atomic step in Redis, so two instances presented the same
 * credential at once cannot both take it — first use and replay are the reply, never a
 * read-then-write in Node.
 *
 * Like every other script (script-runner.ts) they start with the `#!lua` shebang and touch one
 * key (its own Cluster slot). The claim's value is its owner (the request holding it); its
 * time-to-live is absolute (`PXAT`), the moment the credential's challenge can no longer be paid
 * with, so a claim never outlives the credential it guards by more than the margin the caller adds.
 */
import type { RedisScript } from './scripts.js'

const script = (body: string): RedisScript => ({ source: `#!lua\n${body}`, keys: 1 })

/** KEYS: claim. ARGV: owner, expiresAt (ms since the epoch). Reply: 'claimed' | 'used'. */
const claimPayment = script(String.raw`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then
  return 'claimed'
end
return 'used'
`)

/** KEYS: claim. ARGV: owner. Reply: 'released' | 'not-held' (another owner, or lapsed). */
const releasePayment = script(String.raw`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 'released'
end
return 'not-held'
`)

export const paymentScripts = { claimPayment, releasePayment } as const
