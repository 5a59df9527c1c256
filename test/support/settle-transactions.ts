/**
 * The distinct `settle` (or `close`) transactions broadcast for a channel through a devnet's RPC
 * proxy, by the hash of their signed bytes: re-broadcasting the same bytes counts once, a second,
 * different transaction counts twice (what "no double submission" rules out).
 */
import { decodeFunctionData, keccak256, toFunctionSelector, type Hex } from 'viem'
import { escrowAbi } from '../../src/chain/escrow-abi.js'
import { decodeTempoTransaction } from '../../src/chain/tempo-tx.js'
import type { Descriptor } from '../../src/ledger/port.js'
import { channelIdOf } from '../../src/session/channel-id.js'
import type { Devnet } from '../devnet/devnet.js'

const selectors = {
  settle: toFunctionSelector(
    'settle((address,address,address,address,bytes32,address,bytes32),uint96,bytes)',
  ),
  close: toFunctionSelector(
    'close((address,address,address,address,bytes32,address,bytes32),uint96,uint96,bytes)',
  ),
}

/** Hashes of the escrow transactions calling `functionName` on `channelId` (any channel if absent). */
export function escrowTransactions(
  devnet: Devnet,
  functionName: keyof typeof selectors,
  channelId?: Hex,
): Set<Hex> {
  const hashes = new Set<Hex>()
  for (const call of devnet.proxy.calls) {
    if (!call.rawTx?.startsWith('0x76')) continue
    for (const c of decodeTempoTransaction(call.rawTx).calls) {
      if (!c.data.startsWith(selectors[functionName])) continue
      const descriptor = decodeFunctionData({ abi: escrowAbi, data: c.data }).args[0] as Descriptor
      const id = channelIdOf({ descriptor, escrow: devnet.escrow, chainId: devnet.chainId })
      if (channelId === undefined || id === channelId.toLowerCase())
        hashes.add(keccak256(call.rawTx))
    }
  }
  return hashes
}

export function settleTransactions(devnet: Devnet, channelId: Hex): Set<Hex> {
  return escrowTransactions(devnet, 'settle', channelId)
}
