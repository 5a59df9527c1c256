import { describeLedgerContract } from '../../test/ledger/contract.js'
import { createMemoryLedger } from './memory.js'

describeLedgerContract('memory', { create: async () => createMemoryLedger() })
