/**
 * The chain profiles an operator can name in `chain.network`.
 *
 * Public Tempo networks have a fixed chain id (a different one in the file is a mistake, never an
 * override: vouchers are signed over the chain id) and a default RPC URL. `devnet` and `custom`
 * have neither, so the operator must give both.
 */

export const networkNames = ['tempo', 'moderato', 'devnet', 'custom'] as const

export type NetworkName = (typeof networkNames)[number]

type PublicNetwork = { readonly chainId: number; readonly rpcUrl: string }

/** Chain id and default RPC of each public Tempo network. */
export const publicNetworks: Readonly<Record<NetworkName, PublicNetwork | undefined>> = {
  tempo: { chainId: 4217, rpcUrl: 'https://rpc.tempo.xyz' },
  moderato: { chainId: 42431, rpcUrl: 'https://rpc.moderato.tempo.xyz' },
  devnet: undefined,
  custom: undefined,
}
