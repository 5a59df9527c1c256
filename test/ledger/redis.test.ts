/**
 * The shared ledger contract (test/ledger/contract.ts), unchanged, against the Redis adapter on a
 * private redis-server.
 */
import { createRedisLedger } from '../../src/ledger/redis/ledger.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { describeLedgerContract } from './contract.js'

let server: RedisServer | undefined

describeLedgerContract('redis', {
  async create() {
    server = await startRedisServer()
    return createRedisLedger({ url: server.url, keyPrefix: 'contract:' })
  },
  async teardown() {
    await server?.stop()
  },
})
