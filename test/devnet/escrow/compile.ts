/**
 * Compiles the devnet escrow stand-in with solc-js (no download: the compiler ships in the npm
 * package) and renders the committed artifact. `npm run escrow:build` rewrites the artifact; the
 * artifact test compiles afresh and fails when the committed file differs.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Abi, Hex } from 'viem'

const require = createRequire(import.meta.url)

export const sourcePath = new URL('./TIP20ChannelReserve.sol', import.meta.url)
export const artifactPath = new URL('./artifact.json', import.meta.url)

const contractName = 'TIP20ChannelReserve'
const settings = {
  optimizer: { enabled: true, runs: 200 },
  viaIR: true,
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.deployedBytecode.object'] } },
} as const

export type EscrowArtifact = {
  contractName: string
  compiler: string
  settings: typeof settings
  abi: Abi
  deployedBytecode: Hex
}

type SolcOutput = {
  errors?: { severity: string; formattedMessage: string }[]
  contracts: Record<
    string,
    Record<string, { abi: Abi; evm: { deployedBytecode: { object: string } } }>
  >
}

/** Compiles the Solidity source and returns the artifact (ABI + runtime bytecode). */
export function compileEscrow(): EscrowArtifact {
  const solc = require('solc') as { compile(input: string): string; version(): string }
  const input = {
    language: 'Solidity',
    sources: { 'TIP20ChannelReserve.sol': { content: readFileSync(sourcePath, 'utf8') } },
    settings,
  }
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOutput
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error')
  if (errors.length > 0) {
    throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join('\n')}`)
  }
  const contract = output.contracts['TIP20ChannelReserve.sol']?.[contractName]
  if (!contract) throw new Error(`solc produced no ${contractName}`)
  return {
    contractName,
    compiler: solc.version(),
    settings,
    abi: contract.abi,
    deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
  }
}

/** The artifact file's exact text, so a fresh compile can be compared byte for byte. */
export function renderArtifact(artifact: EscrowArtifact): string {
  return `${JSON.stringify(artifact, null, 2)}\n`
}
