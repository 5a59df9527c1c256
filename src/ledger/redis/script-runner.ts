/**
 * Running every script the gateway has in Redis — the ledger's (scripts.ts), the settlement
 * store's (settlement-scripts.ts) and the one-shot payment claims' (payment-scripts.ts) — by SHA:
 * loaded once on every primary (`SCRIPT LOAD`), called with `EVALSHA`, and sent whole (`EVAL`, which also caches it) when the primary that owns the
 * keys has forgotten it (`SCRIPT FLUSH`, a restart, a failover to a replica that never saw
 * `SCRIPT LOAD`).
 *
 * Why sending it again is safe: a `NOSCRIPT` reply means the script did not run at all, so the
 * `EVAL` cannot apply a transition twice. No other failure is retried (see connection.ts). `EVAL`
 * rather than `SCRIPT LOAD` then `EVALSHA`: it is routed by the call's keys, so on a Cluster it
 * reaches the primary that answered `NOSCRIPT`, which a keyless `SCRIPT LOAD` would not.
 *
 * A call may carry one follow-up command (the unsettled index, see ledger.ts; the intents set,
 * see settlement-store.ts); its own failure is reported separately and never hides the script's
 * outcome. On one server it is pipelined behind the script in the same round trip; on a Cluster
 * its key lives on another slot (another node, maybe), so it is sent once the script answered —
 * sent at once it could overtake the script on the other node.
 *
 * A call may also wait for replicas (`wait`): `WAIT` is pipelined behind the script on the same
 * connection — on a Cluster the same node, since a pipeline follows its keyed commands — so it
 * counts the replicas that acknowledged the script's writes. ioredis follows a Cluster redirect
 * (`MOVED`, after a failover or a resharding) for a lone command but not for this pipeline, whose
 * `WAIT` did not fail; so the runner refreshes the slot map and sends it again, at most twice —
 * safe for the same reason as after `NOSCRIPT`: a redirect means the script did not run.
 *
 * The runner rejects with whatever ioredis rejected with; callers map that through `ledgerFailure`
 * (errors.ts), so an outage reads the same from every script.
 */
import { createHash } from 'node:crypto'
import { Cluster } from 'ioredis'
import { primariesOf, type RedisClient } from './connection.js'
import { isNoScript, isReplyError } from './errors.js'
import { paymentScripts } from './payment-scripts.js'
import { ledgerScripts } from './scripts.js'
import { rateLimitScripts } from '../../limits/redis-script.js'
import { settlementScripts } from './settlement-scripts.js'

/** Every script, by name. */
const redisScripts = {
  ...ledgerScripts,
  ...settlementScripts,
  ...paymentScripts,
  ...rateLimitScripts,
} as const

export type ScriptName = keyof typeof redisScripts

export type ScriptCall = {
  readonly name: ScriptName
  readonly keys: readonly string[]
  readonly args: readonly string[]
  /** A command sent after the script, e.g. `['zrem', key, member]`. */
  readonly then?: readonly [string, ...string[]]
  /** `WAIT replicas timeoutMs` behind the script (not together with `then`). */
  readonly wait?: { readonly replicas: number; readonly timeoutMs: number }
}

/**
 * What a call returned: the script's reply, the follow-up's error if it failed, and how many
 * replicas acknowledged the script's writes when the call asked to `wait`.
 */
export type ScriptOutcome = {
  readonly reply: unknown
  readonly followUpError: Error | undefined
  readonly replicas: number | undefined
}

export type ScriptRunner = {
  /** Loads every script on every primary; rejects when one is refused or gets another SHA. */
  load(): Promise<void>
  run(call: ScriptCall): Promise<ScriptOutcome>
}

/** A Cluster redirect: the slot lives on another node, and the command did not run. */
const isMoved = (error: unknown) => isReplyError(error) && error.message.startsWith('MOVED ')

const sha1 = (source: string) => createHash('sha1').update(source).digest('hex')

export function createScriptRunner(client: RedisClient): ScriptRunner {
  const shas = Object.fromEntries(
    Object.entries(redisScripts).map(([name, script]) => [name, sha1(script.source)]),
  ) as Record<ScriptName, string>
  const cluster = client instanceof Cluster

  /** The script by SHA, or whole after a `NOSCRIPT`. */
  const script = (call: ScriptCall, whole: boolean): [string, number, ...string[]] => [
    whole ? redisScripts[call.name].source : shas[call.name],
    call.keys.length,
    ...call.keys,
    ...call.args,
  ]

  const once = async (call: ScriptCall, whole: boolean): Promise<ScriptOutcome> => {
    const command = whole ? 'eval' : 'evalsha'
    if (call.wait) {
      const results = await client
        .pipeline()
        .call(command, ...script(call, whole))
        .call('wait', String(call.wait.replicas), String(call.wait.timeoutMs))
        .exec()
      const [scriptResult, waited] = results ?? []
      if (!scriptResult || !waited) throw new Error('ledger: empty pipeline reply')
      if (scriptResult[0]) throw scriptResult[0]
      if (waited[0]) throw waited[0]
      return { reply: scriptResult[1], followUpError: undefined, replicas: Number(waited[1]) }
    }
    if (!call.then) {
      const reply = await client.call(command, ...script(call, whole))
      return { reply, followUpError: undefined, replicas: undefined }
    }
    if (cluster) {
      const reply = await client.call(command, ...script(call, whole))
      const followUpError = await client.call(...call.then).then(
        () => undefined,
        (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
      )
      return { reply, followUpError, replicas: undefined }
    }
    const results = await client
      .pipeline()
      .call(command, ...script(call, whole))
      .call(...call.then)
      .exec()
    const [scriptResult, followUp] = results ?? []
    if (!scriptResult) throw new Error('ledger: empty pipeline reply')
    if (scriptResult[0]) throw scriptResult[0]
    return {
      reply: scriptResult[1],
      followUpError: followUp?.[0] ?? undefined,
      replicas: undefined,
    }
  }

  return {
    async load() {
      const loads = primariesOf(client).flatMap((node) =>
        Object.entries(redisScripts).map(async ([name, { source }]) => {
          const sha = await node.script('LOAD', source)
          if (sha !== shas[name as ScriptName]) {
            throw new Error(`Redis loaded script ${name} as ${String(sha)}`)
          }
        }),
      )
      await Promise.all(loads)
    },
    async run(call) {
      for (let redirects = 0; ; redirects += 1) {
        try {
          try {
            return await once(call, false)
          } catch (error) {
            if (!isNoScript(error)) throw error
            return await once(call, true)
          }
        } catch (error) {
          if (!(client instanceof Cluster) || !isMoved(error) || redirects >= 2) throw error
          await new Promise<void>((resolve) => client.refreshSlotsCache(() => resolve()))
        }
      }
    },
  }
}
