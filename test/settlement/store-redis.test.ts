import { Redis } from 'ioredis'
import { createRedisSettlementStore } from '../../src/ledger/redis/settlement-store.js'
import { startRedisServer } from '../support/redis-server.js'
import { describeSettlementStoreContract } from './store-contract.js'

describeSettlementStoreContract('redis', async () => {
  const server = await startRedisServer()
  const client = new Redis(server.url)
  const store = createRedisSettlementStore({ client, keyPrefix: 'test:' })
  return {
    ...store,
    async teardown() {
      client.disconnect()
      await server.stop()
    },
  }
})
