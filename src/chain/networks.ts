/**
 * The Tempo networks the gateway can run against, as viem chains: mainnet (4217), the Moderato
 * testnet (42431), and any other chain id with an RPC URL (a local devnet, a private network).
 * All of them use Tempo's transaction format, so all share viem's Tempo chain configuration.
 */
import { defineChain, type Chain } from 'viem'
import { tempo, tempoLocalnet, tempoModerato } from 'viem/chains'

export type NetworkName = 'tempo' | 'moderato' | 'devnet' | 'custom'

/** The viem chain for a configured network, talking to `rpcUrl`. */
export function tempoChain(options: {
  network: NetworkName
  chainId: number
  rpcUrl: string
}): Chain {
  const rpcUrls = { default: { http: [options.rpcUrl] } }
  switch (options.network) {
    case 'tempo':
      return defineChain({ ...tempo, rpcUrls })
    case 'moderato':
      return defineChain({ ...tempoModerato, rpcUrls })
    case 'devnet':
    case 'custom':
      return defineChain({
        ...tempoLocalnet,
        id: options.chainId,
        name: options.network === 'devnet' ? 'Tempo devnet' : `Tempo ${options.chainId}`,
        rpcUrls,
      })
  }
}
