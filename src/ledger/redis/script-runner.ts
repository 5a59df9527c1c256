/**
 * Running every script the gateway has in Redis — the ledger's (scripts.ts) and the settlement
 * store's (settlement-scripts.ts) — by SHA: loaded once (`SCRIPT LOAD`), called with `EVALSHA`,
 * and reloaded transparently when Redis has forgotten them (`SCRIPT FLUSH`, a restart, a failover
 * to a replica that never saw `SCRIPT LOAD`).
 *
 * Why reloading is safe: a `NOSCRIPT` reply means the script did not run at all, so sending the
 * same call again after `SCRIPT LOAD` cannot apply a transition twice. No other failure is
 * retried (see connection.ts). Concurrent calls that meet `NOSCRIPT` share one reload.
 *
 * A call may carry one follow-up command pipelined behind the script in the same round trip (the
 * unsettled index, see ledger.ts; the intents set, see settlement-store.ts); its own failure is
 * reported separately and never hides the script's outcome.
 *
 * The runner rejects with whatever ioredis rejected with; callers map that through `ledgerFailure`
 * (errors.ts), so an outage reads the same from every script.
 */
import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { isNoScript } from './errors.js'
import { ledgerScripts } from './scripts.js'
import { rateLimitScripts } from '../../limits/redis-script.js'
import { settlementScripts } from './settlement-scripts.js'

/** Every script, by name. */
const redisScripts = { ...ledgerScripts, ...settlementScripts, ...rateLimitScripts } as const

export type ScriptName = keyof typeof redisScripts

export type ScriptCall = {
  readonly name: ScriptName
  readonly keys: readonly string[]
  readonly args: readonly string[]
  /** A command pipelined right after the script, e.g. `['zrem', key, member]`. */
  readonly then?: readonly [string, ...string[]]
}

/** What a call returned: the script's reply, and the follow-up's error if it failed. */
export type ScriptOutcome = { readonly reply: unknown; readonly followUpError: Error | undefined }

export type ScriptRunner = {
  /** Loads every script; rejects when Redis does not take one or returns another SHA. */
  load(): Promise<void>
  run(call: ScriptCall): Promise<ScriptOutcome>
}

const sha1 = (source: string) => createHash('sha1').update(source).digest('hex')

export function createScriptRunner(client: Redis): ScriptRunner {
  const shas = Object.fromEntries(
    Object.entries(redisScripts).map(([name, script]) => [name, sha1(script.source)]),
  ) as Record<ScriptName, string>
  const reloading = new Map<ScriptName, Promise<void>>()

  const loadOne = async (name: ScriptName): Promise<void> => {
    const sha = await client.script('LOAD', redisScripts[name].source)
    if (sha !== shas[name]) throw new Error(`Redis loaded script ${name} as ${String(sha)}`)
  }

  const reload = (name: ScriptName): Promise<void> => {
    let pending = reloading.get(name)
    if (!pending) {
      pending = loadOne(name).finally(() => reloading.delete(name))
      reloading.set(name, pending)
    }
    return pending
  }

  const once = async (call: ScriptCall): Promise<ScriptOutcome> => {
    const sha = shas[call.name]
    if (!call.then) {
      const reply = await client.evalsha(sha, call.keys.length, ...call.keys, ...call.args)
      return { reply, followUpError: undefined }
    }
    const results = await client
      .pipeline()
      .evalsha(sha, call.keys.length, ...call.keys, ...call.args)
      .call(...call.then)
      .exec()
    const [scriptResult, followUp] = results ?? []
    if (!scriptResult) throw new Error('ledger: empty pipeline reply')
    if (scriptResult[0]) throw scriptResult[0]
    return { reply: scriptResult[1], followUpError: followUp?.[0] ?? undefined }
  }

  return {
    async load() {
      await Promise.all(Object.keys(redisScripts).map((name) => loadOne(name as ScriptName)))
    },
    async run(call) {
      try {
        return await once(call)
      } catch (error) {
        if (!isNoScript(error)) throw error
        await reload(call.name)
        return await once(call)
      }
    },
  }
}
