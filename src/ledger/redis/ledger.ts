/**
 * Redis adapter of the ledger port: where the operator's money lives in production.
 *
 * Every mutation is ONE Lua script (src/ledger/redis/scripts.ts) applying the same transition as
 * src/ledger/transitions.ts, atomically inside Redis; Node never reads, decides, then writes.
 * `authorize` — the hot path of every paid request — is one round trip: one `EVALSHA` (the first
 * charge of an unsettled period also sends an index `ZADD` the caller does not wait for). `get` is
 * one `HGETALL`. The contract suite (test/ledger/contract.ts) holds this adapter to the same
 * behaviour as the memory adapter.
 *
 * Invariants (besides those of port.ts):
 *  - a call resolves only with what Redis acknowledged; any failure rejects — with
 *    `ledger-unavailable` when waiting can cure it (errors.ts) — and is never retried,
 *    except after `NOSCRIPT`, which proves the script did not run (script-runner.ts);
 *  - the write that accepts a voucher is durable before the call resolves only if Redis runs with
 *    `appendfsync always`: `durability()` reports it, `checkDurability` enforces it;
 *  - with `minReplicas` set, `authorize` resolves `authorized` only once that many replicas
 *    acknowledged its writes (`WAIT`, same round trip); otherwise it gives a reservation back and
 *    rejects with `ledger-unavailable` — see "Replicas and failover" in docs/DESIGN.md;
 *  - the unsettled index is a hint kept in step by follow-up commands (unsettled-index.ts); the
 *    channel hash is the truth.
 */
import type { ConnectionOptions } from 'node:tls'
import type { Hex } from 'viem'
import type { AuthorizeInput, AuthorizeResult, LedgerPort, TransitionResult } from '../port.js'
import { maxPendingVouchers } from '../transitions.js'
import { GatewayError } from '../../errors.js'
import {
  createRedisClient,
  primariesOf,
  type LedgerLogger,
  type RedisClient,
  type RedisTarget,
} from './connection.js'
import { readDurability, type DurabilityReport } from './durability.js'
import { ledgerFailure, redisCall } from './errors.js'
import { redisKeys } from './keys.js'
import { createRedisPayerBlocks } from './blocks.js'
import { createRedisPayerIndex } from './payers.js'
import { amountArg, channelKeyId, decodeRecord, hexArg, integerArg, openArgs } from './record.js'
import {
  decodeAuthorizeReply,
  decodeCommitReply,
  decodeReleaseReply,
  decodeRecordReply,
} from './replies.js'
import { createScriptRunner, type ScriptCall } from './script-runner.js'
import type { LedgerScriptName } from './scripts.js'
import { createRedisChannelIndex, type RedisChannelIndex } from './unsettled-index.js'

/** Where Redis is (connection.ts `RedisTarget`: a URL, Cluster seed nodes, or Sentinels), and: */
export type RedisLedgerOptions = RedisTarget & {
  /** Prefix of every key (e.g. `mppgw:`); see docs/DESIGN.md "Redis key schema". */
  readonly keyPrefix: string
  readonly logger?: LedgerLogger | undefined
  /** Bound on each Redis command, in ms (default 2000). */
  readonly commandTimeoutMs?: number | undefined
  /** Bound on establishing a connection, in ms (default 2000). */
  readonly connectTimeoutMs?: number | undefined
  /** How long a finalized channel is kept, in seconds (default 30 days; 0 keeps it forever). */
  readonly finalizedTtlSeconds?: number | undefined
  /** Extra TLS options for `rediss://` (e.g. a private CA). */
  readonly tls?: ConnectionOptions | undefined
  /**
   * Replicas that must acknowledge an accepted voucher before `authorize` resolves (`WAIT`;
   * default 0: do not wait).
   */
  readonly minReplicas?: number | undefined
  /** How long `authorize` waits for them, in ms (default 500; below `commandTimeoutMs`). */
  readonly minReplicasTimeoutMs?: number | undefined
}

/** The ledger port on Redis, plus what operations and the settler need. */
export type RedisLedger = LedgerPort & {
  /** The underlying connection (health checks, tests). Do not write ledger keys with it. */
  readonly client: RedisClient
  /** The settler's and close watcher's queries (port `ChannelIndex`), see unsettled-index.ts. */
  readonly index: RedisChannelIndex
  /** What Redis's persistence settings risk for an acknowledged voucher. */
  durability(): Promise<DurabilityReport>
  /** The fewest replicas connected to any primary (`INFO replication`). */
  replicas(): Promise<number>
  /**
   * Up to `limit` channel ids from the unsettled index as stored, longest-unsettled first. A
   * hint: it may name channels settled by now, and a crash between a charge and its index update
   * can leave one out until the next `index.open()` scan. `index.unsettled()` returns the checked
   * list.
   */
  listUnsettled(limit: number): Promise<Hex[]>
}

const thirtyDays = 30 * 24 * 60 * 60

/** The `WAIT` each authorization carries, or undefined when `minReplicas` is 0. */
function replicaWait(options: RedisLedgerOptions): ScriptCall['wait'] {
  const replicas = options.minReplicas ?? 0
  if (!Number.isSafeInteger(replicas) || replicas < 0) {
    throw new RangeError('ledger: minReplicas must be a non-negative integer')
  }
  if (replicas === 0) return undefined
  const timeoutMs = options.minReplicasTimeoutMs ?? 500
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
    throw new RangeError('ledger: minReplicasTimeoutMs must be a positive integer')
  }
  if (timeoutMs >= (options.commandTimeoutMs ?? 2_000)) {
    throw new RangeError('ledger: minReplicasTimeoutMs must be below commandTimeoutMs')
  }
  return { replicas, timeoutMs }
}

/**
 * Whether Redis holds ledger data in the layout before the cluster-ready key schema (keys.ts
 * `legacy`). The ledger then refuses to start: it would not see those channels, and their
 * vouchers are the payee's only claim. docs/DESIGN.md "Redis key schema" says how to move them.
 */
async function hasLegacyLayout(client: RedisClient, keyPrefix: string): Promise<boolean> {
  const { legacy } = redisKeys(keyPrefix)
  const found = await Promise.all(legacy.map((key) => client.exists(key)))
  return found.some((count) => count > 0)
}

/** Disconnects and rejects with what a failed connection step means (errors.ts). */
const failConnect = (client: RedisClient) => (error: unknown) => {
  client.disconnect()
  throw ledgerFailure(error, 'connect')
}

/**
 * Connects to Redis, loads the ledger scripts and returns the ledger. Rejects with
 * `ledger-unavailable` when Redis cannot be reached (or refuses the credentials).
 */
export async function createRedisLedger(options: RedisLedgerOptions): Promise<RedisLedger> {
  const wait = replicaWait(options)
  const keys = redisKeys(options.keyPrefix)
  const client = createRedisClient(options)
  const scripts = createScriptRunner(client)
  // ioredis rejects `connect()` with "Connection is closed." when the handshake failed; the
  // `error` event carries the reason (WRONGPASS, ECONNREFUSED, a TLS failure) the operator needs.
  let reason: unknown
  const remember = (error: unknown) => (reason = error)
  client.on('error', remember)
  let connected = false
  try {
    await client.connect()
    connected = true
    await scripts.load()
  } catch (error) {
    client.disconnect()
    throw ledgerFailure(connected ? error : (reason ?? error), 'connect')
  } finally {
    client.off('error', remember)
  }
  if (await hasLegacyLayout(client, options.keyPrefix).catch(failConnect(client))) {
    client.disconnect()
    throw new Error(
      `ledger: Redis holds keys of the earlier layout (${keys.legacy.join(', ')}); move them to the current key schema with 'mpp-gateway migrate-keys' (every gateway and settler stopped) before starting`,
    )
  }

  const index = createRedisChannelIndex({ client, keys })
  const payers = createRedisPayerIndex({ client, keys })
  const blocks = createRedisPayerBlocks({ client, keys })
  const ttl = integerArg(options.finalizedTtlSeconds ?? thirtyDays, 'finalizedTtlSeconds')
  const logger = options.logger
  /** Index updates still in flight; `close` waits for them. */
  const indexing = new Set<Promise<void>>()
  let closed = false

  /**
   * Runs a ledger script on the channel's keys — its hash and reservations, plus its settlement
   * fence when the call may finalize the channel (scripts.ts `expireFinalized`; named only then,
   * so a key ACL limited to the channel keys still allows every other step); resolves with its raw
   * reply.
   */
  const run = async (
    name: LedgerScriptName,
    id: Hex,
    args: string[],
    then?: ScriptCall['then'],
    finalizes = false,
  ): Promise<unknown> => (await runCall({ name, id, args, then, finalizes })).reply

  const runCall = async (options: {
    name: LedgerScriptName
    id: Hex
    args: string[]
    then?: ScriptCall['then'] | undefined
    finalizes?: boolean
    wait?: ScriptCall['wait'] | undefined
  }) => {
    const { name, id, args, then, finalizes, wait } = options
    const call: ScriptCall = {
      name,
      keys: finalizes
        ? [keys.channel(id), keys.reservations(id), keys.fence(id)]
        : [keys.channel(id), keys.reservations(id)],
      args,
      ...(then ? { then } : {}),
      ...(wait ? { wait } : {}),
    }
    const outcome = await redisCall(name, () => scripts.run(call))
    if (outcome.followUpError) {
      logger?.warn(
        { channelId: id, err: { message: outcome.followUpError.message } },
        'ledger: index not updated; the next index scan repairs it',
      )
    }
    return outcome
  }

  /**
   * The answer to an authorization whose writes reached fewer than `minReplicas` replicas in
   * time. Why refuse it: until a replica holds the voucher, a failover of its primary can drop
   * it, and an answer it paid for would then have left unpaid. The request is refused before
   * its upstream is called; its reservation is given back and its hold refunded, best effort
   * (a reservation lapses on its own otherwise; a hold the gate's unresolved-refund retries). The voucher itself stays
   * accepted: it is the payer's own signed claim, and a retry with it pays from the same headroom.
   * Under `commit` mode (not used by the gate) the value stays spent on the primary: like every
   * `ledger-unavailable`, the rejection means the outcome is unknown.
   */
  const unreplicated = async (input: AuthorizeInput, id: Hex, replicas: number) => {
    logger?.warn(
      { channelId: id, replicas, minReplicas: wait?.replicas },
      'ledger: an accepted voucher did not reach enough replicas in time; answering 503',
    )
    if (input.mode === 'reserve' && input.reservationId !== undefined) {
      await run('release', id, [integerArg(input.now, 'now'), input.reservationId]).catch(
        () => undefined,
      )
    }
    if (input.mode === 'hold' && input.reservationId !== undefined) {
      // Refunded before the 503 leaves, so the payer's retry finds its headroom; in the
      // background only if this primary does not answer.
      await run('release', id, [integerArg(input.now, 'now'), input.reservationId]).catch(() =>
        undoUnseenHold(input, id),
      )
    }
    return new GatewayError(
      'ledger-unavailable',
      'The channel ledger could not replicate the payment in time.',
      { retryAfter: 1 },
    )
  }

  /**
   * A hold whose authorize failed as far as the caller knows (the request is answered 503) but
   * may have run, or may still run (a frozen Redis executes what is queued when it resumes; ioredis
   * re-sends unanswered commands after a reconnect): the hold would lapse into a charge for an
   * answer never given. So its id is released with `voidUntil` — refunding the hold if it ran,
   * voiding the id if not, so the authorize charges nothing should it run later — retried in the
   * background until Redis answers or the hold would have lapsed anyway.
   */
  const undoUnseenHold = (input: AuthorizeInput, id: Hex) => {
    const { reservationId, expiresAt } = input
    if (input.mode !== 'hold' || reservationId === undefined || expiresAt === undefined) return
    const attempt = async (delayMs: number): Promise<void> => {
      if (closed) return
      const now = Date.now()
      if (now >= expiresAt) {
        logger?.warn(
          { channelId: id },
          'ledger: a hold of a request answered 503 could not be undone before it lapsed',
        )
        return
      }
      try {
        await run('release', id, [
          integerArg(now, 'now'),
          reservationId,
          integerArg(expiresAt, 'voidUntil'),
        ])
      } catch {
        setTimeout(() => void attempt(Math.min(2 * delayMs, 2_000)), delayMs).unref()
      }
    }
    void attempt(100)
  }

  /**
   * Adds a channel whose value just went unsettled to the index.
   *
   * Why not inside the script: the index lives on another cluster slot. Why after the script and
   * only now: the script alone knows (atomically, in-slot) that this step made `spent > settled`
   * for the first time, so the index never fills with channels that were not charged — a random
   * channel id costs nothing. Why not awaited: the charge is already done and durable; the
   * caller's answer must not wait for, or fail on, a hint. Commands on one connection run in
   * order, so any later command of this ledger sees the entry. If it fails (or the process dies
   * first) the record still carries `unsettledSince`, and the next `index.open()` scan re-adds it.
   */
  const indexUnsettled = (id: Hex, now: number) => {
    const pending = client
      .zadd(keys.unsettled(id), 'NX', now, id)
      .then(() => undefined)
      .catch((error: unknown) => {
        logger?.warn(
          { channelId: id, err: { message: error instanceof Error ? error.message : '' } },
          'ledger: unsettled index not updated; the next index scan repairs it',
        )
      })
      .finally(() => indexing.delete(pending))
    indexing.add(pending)
  }

  /** A finalized channel can never be charged again, so dropping it from the index is safe. */
  const dropFromIndex = (id: Hex): ScriptCall['then'] => ['zrem', keys.unsettled(id), id]

  /**
   * Drops a channel the transition finalized from its payer's set; like `indexUnsettled`, a hint
   * the caller does not wait for (a stale entry is pruned when read).
   */
  const dropFromPayer = (result: TransitionResult): TransitionResult => {
    if (result.kind !== 'ok' || result.channel.status !== 'finalized') return result
    const { channelId, descriptor } = result.channel
    const pending = payers
      .drop(descriptor.payer, channelId)
      .catch((error: unknown) => {
        logger?.warn(
          { channelId, err: { message: error instanceof Error ? error.message : '' } },
          'ledger: payer index not updated; the entry is pruned when read',
        )
      })
      .finally(() => indexing.delete(pending))
    indexing.add(pending)
    return result
  }

  const transition = async (
    name: LedgerScriptName,
    id: Hex,
    args: string[],
    then?: ScriptCall['then'],
  ): Promise<TransitionResult> => {
    // The two ways a channel is finalized: `finalize`, and `syncChain` with a zero deposit (ARGV[2]).
    const finalizes = name === 'finalize' || (name === 'syncChain' && args[1] === '0')
    const { kind, channel } = decodeRecordReply(await run(name, id, args, then, finalizes), name)
    if (kind === 'ok' && channel) return { kind, channel }
    if (kind === 'not-found' || kind === 'finalized') return { kind }
    throw new Error(`ledger: unexpected outcome ${kind} of ${name}`)
  }

  const authorizeArgs = (input: AuthorizeInput): string[] => {
    const v = input.voucher
    const reservation = input.reservationId !== undefined && input.expiresAt !== undefined
    return [
      integerArg(input.now, 'now'),
      v ? '1' : '0',
      v ? amountArg(v.cumulative, 'voucher amount') : '0',
      v ? hexArg(v.signature, 'voucher signature') : '0x',
      amountArg(input.amount, 'amount'),
      input.mode,
      reservation ? '1' : '0',
      input.reservationId ?? '',
      input.expiresAt !== undefined ? integerArg(input.expiresAt, 'expiresAt') : '0',
      amountArg(input.minDelta, 'minDelta'),
      String(maxPendingVouchers),
    ]
  }

  return {
    client,

    async open(channel, now) {
      const id = channelKeyId(channel.channelId)
      // The payer set is added to after the hash exists, in the same round trip (payers.ts).
      const addPayer = payers.addCommand(channel.descriptor.payer, id)
      const reply = decodeRecordReply(
        await run('open', id, openArgs(channel, now), addPayer),
        'open',
      )
      const { kind } = reply
      if ((kind !== 'created' && kind !== 'exists') || !reply.channel) {
        throw new Error(`ledger: unexpected outcome ${kind} of open`)
      }
      return { kind, channel: reply.channel }
    },

    async authorize(input): Promise<AuthorizeResult> {
      const id = channelKeyId(input.channelId)
      let outcome: Awaited<ReturnType<typeof runCall>>
      try {
        outcome = await runCall({ name: 'authorize', id, args: authorizeArgs(input), wait })
      } catch (error) {
        undoUnseenHold(input, id)
        throw error
      }
      const reply = decodeAuthorizeReply(id, outcome.reply)
      switch (reply.kind) {
        case 'authorized': {
          if (wait && (outcome.replicas ?? 0) < wait.replicas) {
            throw await unreplicated(input, id, outcome.replicas ?? 0)
          }
          const { kind, voucher, snapshot, settleable } = reply
          if (reply.newlyUnsettled) indexUnsettled(id, input.now)
          return { kind, voucher, snapshot, settleable }
        }
        case 'insufficient':
        case 'voucher-rejected':
        case 'not-found':
        case 'closing':
        case 'finalized':
          return reply
        case 'reservation-incomplete':
          throw new Error('ledger: a reservation needs an id and an expiry')
      }
    },

    async commit(channelId, reservationId, now, amount) {
      const id = channelKeyId(channelId)
      if (amount !== undefined && amount < 0n) {
        throw new Error('ledger: a commit must lie between zero and its reservation')
      }
      const charged = amount === undefined ? '' : amountArg(amount, 'amount')
      const reply = decodeCommitReply(
        id,
        await run('commit', id, [integerArg(now, 'now'), reservationId, charged]),
      )
      switch (reply.kind) {
        case 'committed': {
          if (reply.newlyUnsettled) indexUnsettled(id, now)
          return { kind: reply.kind, snapshot: reply.snapshot, settleable: reply.settleable }
        }
        case 'missing':
        case 'finalized':
          return reply
        case 'over-reservation':
          throw new Error('ledger: a commit must lie between zero and its reservation')
      }
    },

    async release(channelId, reservationId, now, voidUntil) {
      const id = channelKeyId(channelId)
      const reply = decodeReleaseReply(
        id,
        await run('release', id, [
          integerArg(now, 'now'),
          reservationId,
          voidUntil === undefined ? '' : integerArg(voidUntil, 'voidUntil'),
        ]),
      )
      return reply
    },

    async confirmHolds(channelId, reservationIds, now) {
      const id = channelKeyId(channelId)
      const reply = (await run('confirmHolds', id, [
        integerArg(now, 'now'),
        ...reservationIds,
      ])) as unknown[]
      if (reply[0] === 'missing') return { kind: 'missing' }
      const [kind, count, settleable] = reply
      if (kind !== 'confirmed' || typeof count !== 'string' || typeof settleable !== 'string') {
        throw new Error('ledger: unexpected reply to confirmHolds')
      }
      return { kind: 'confirmed', confirmed: Number(count), settleable: BigInt(settleable) }
    },

    async recordTopUp(channelId, deposit, now) {
      const id = channelKeyId(channelId)
      return transition('recordTopUp', id, [integerArg(now, 'now'), amountArg(deposit, 'deposit')])
    },

    async syncChain(channelId, state, now) {
      const id = channelKeyId(channelId)
      const args = [
        integerArg(now, 'now'),
        amountArg(state.deposit, 'deposit'),
        amountArg(state.settled, 'settled'),
        integerArg(state.closeRequestedAt, 'closeRequestedAt'),
        ttl,
      ]
      // A zero deposit finalizes the channel (or finds it finalized already): drop its hint.
      const then = state.deposit === 0n ? dropFromIndex(id) : undefined
      return dropFromPayer(await transition('syncChain', id, args, then))
    },

    async markClosing(channelId, now) {
      return transition('markClosing', channelKeyId(channelId), [integerArg(now, 'now')])
    },

    async cancelClosing(channelId, now) {
      return transition('cancelClosing', channelKeyId(channelId), [integerArg(now, 'now')])
    },

    async finalize(channelId, outcome, now) {
      const id = channelKeyId(channelId)
      const args = [
        integerArg(now, 'now'),
        amountArg(outcome.settled, 'settled'),
        outcome.txHash === undefined ? '' : hexArg(outcome.txHash, 'txHash'),
        ttl,
      ]
      return dropFromPayer(await transition('finalize', id, args, dropFromIndex(id)))
    },

    async get(channelId) {
      const id = channelKeyId(channelId)
      const fields = await redisCall('get', () => client.hgetall(keys.channel(id)))
      return Object.keys(fields).length === 0 ? undefined : decodeRecord(fields)
    },

    async channelsOf(payer, limit) {
      return payers.channelsOf(payer, limit)
    },

    async claimPayment({ key, owner, expiresAt }) {
      const reply = await redisCall('claimPayment', () =>
        scripts.run({
          name: 'claimPayment',
          keys: [keys.payment(key)],
          args: [owner, integerArg(expiresAt, 'expiresAt')],
        }),
      )
      if (reply.reply === 'claimed' || reply.reply === 'used') return { kind: reply.reply }
      throw new Error(`ledger: unexpected reply of claimPayment`)
    },

    async releasePayment(key, owner) {
      await redisCall('releasePayment', () =>
        scripts.run({ name: 'releasePayment', keys: [keys.payment(key)], args: [owner] }),
      )
    },

    blocks,

    /**
     * Readiness. On a Cluster it holds while any primary answers: a primary that fails over
     * refuses only its own channels (503), and every gateway sees the same cluster, so taking
     * them all out of the load balancer would refuse every channel instead.
     */
    async ping() {
      await redisCall('ping', async () => {
        await Promise.any(primariesOf(client).map((node) => node.ping())).catch(
          (error: unknown) => {
            throw error instanceof AggregateError ? error.errors[0] : error
          },
        )
      })
    },

    async replicas() {
      return redisCall('replicas', async () => {
        const counts = await Promise.all(
          primariesOf(client).map(async (node) => {
            const info = await node.info('replication')
            return Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0)
          }),
        )
        return counts.length === 0 ? 0 : Math.min(...counts)
      })
    },

    async close() {
      if (closed) return
      closed = true
      blocks.stop()
      await Promise.allSettled([...indexing])
      try {
        await client.quit()
      } catch {
        // Not connected (Redis down): stop reconnecting instead.
        client.disconnect()
      }
    },

    async durability() {
      return readDurability(client)
    },

    index,

    async listUnsettled(limit) {
      return index.listUnsettled(limit)
    },
  }
}
