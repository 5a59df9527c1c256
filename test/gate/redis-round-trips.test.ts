/**
 * How many Redis commands a paid request costs, counted by Redis itself (`INFO commandstats`) on a
 * real redis-server: one ledger step before a served answer leaves (the hold), a second only when
 * the answer is not served (the refund), and one confirmation per channel for every served hold
 * gathered meanwhile, off the requests' path. Counts, not times.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { createRedisIdempotencyStore } from '../../src/ledger/redis/idempotency.js'
import { prices, startInProcessGateway } from '../support/in-process-gateway.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'

let server: RedisServer
let admin: Redis
const ledgers: RedisLedger[] = []

beforeAll(async () => {
  server = await startRedisServer()
  admin = new Redis(server.url)
})
afterAll(async () => {
  await Promise.all(ledgers.map((l) => l.close()))
  admin.disconnect()
  await server.stop()
})

/**
 * Ledger round trips since the last reset: the scripts the gateway ran (`evalsha`; Redis also
 * counts the commands each script runs inside, which are not round trips) and the index `ZADD`
 * that follows the first charge of an unsettled period, unwaited.
 */
async function roundTrips(): Promise<{ scripts: number; index: number; loads: number }> {
  const info = await admin.info('commandstats')
  const calls = (name: string) =>
    Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0)
  return { scripts: calls('evalsha'), index: calls('zadd'), loads: calls('eval') }
}

async function ledger(prefix: string) {
  const created = await createRedisLedger({ url: server.url, keyPrefix: prefix })
  ledgers.push(created)
  return created
}

describe('Redis commands per paid request', () => {
  it('served: one command on the path; not served: two; served holds confirmed in one batch', async () => {
    // Confirmations held back for the whole test, so what is counted first is the path alone.
    const gw = await startInProcessGateway({
      ledger: await ledger('served:'),
      confirmDelayMs: 60_000,
    })
    try {
      const served = 5
      let cumulative = 0n
      await admin.config('RESETSTAT')
      for (let i = 0; i < served; i++) {
        cumulative += prices.paid
        const authorization = await gw.credential(`/paid/${i}`, cumulative)
        const response = await fetch(`${gw.url}/paid/${i}`, { headers: { authorization } })
        expect(response.status).toBe(200)
        await response.arrayBuffer()
      }
      const path = await roundTrips()
      expect(path).toMatchObject({ scripts: served, loads: 0 })
      expect(path.index).toBeLessThanOrEqual(1)

      // An answer that is not served: the hold, then its refund.
      await admin.config('RESETSTAT')
      gw.script({ kind: 'answer', status: 500 })
      const authorization = await gw.credential('/paid/x', cumulative + prices.paid)
      const failed = await fetch(`${gw.url}/paid/x`, { headers: { authorization } })
      expect(failed.status).toBe(500)
      await failed.arrayBuffer()
      expect(await roundTrips()).toEqual({ scripts: 2, index: 0, loads: 0 })

      // Stopping sends what was queued: the five served holds of the channel in one call.
      await admin.config('RESETSTAT')
      await gw.stop()
      expect(await roundTrips()).toEqual({ scripts: 1, index: 0, loads: 0 })
      expect(await gw.ledger.get(gw.channelId)).toMatchObject({
        spent: BigInt(served) * prices.paid,
        held: 0n,
        units: served,
      })
    } finally {
      await gw.stop()
    }
  })

  it('with paid retries kept in Redis, a served request costs two more: the claim and the copy', async () => {
    const store = new Redis(server.url)
    const gw = await startInProcessGateway({
      ledger: await ledger('kept:'),
      confirmDelayMs: 60_000,
      idempotency: createRedisIdempotencyStore({ client: store, keyPrefix: 'kept:' }),
    })
    try {
      const pay = async (path: string, cumulative: bigint) => {
        const authorization = await gw.credential(path, cumulative)
        const response = await fetch(`${gw.url}${path}`, { headers: { authorization } })
        expect(response.status).toBe(200)
        await response.arrayBuffer()
      }
      // The first use of each store script loads it into Redis; counted is the steady state.
      await pay('/paid/1', prices.paid)
      await admin.config('RESETSTAT')
      await pay('/paid/2', 2n * prices.paid)
      expect(await roundTrips()).toEqual({ scripts: 3, index: 0, loads: 0 })
    } finally {
      await gw.stop()
      store.disconnect()
    }
  })
})
