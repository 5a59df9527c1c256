import { describeSettlementStoreContract } from '../../test/settlement/store-contract.js'
import { createMemorySettlementStore } from './store.js'

describeSettlementStoreContract('memory', async () => createMemorySettlementStore())
