/**
 * A local Tempo chain with the TIP-1034 escrow, from npm packages alone: anvil in Tempo mode, the
 * Solidity stand-in installed at the canonical escrow address, the JSON-RPC proxy that supplies
 * what the stand-in cannot compute, and funded throwaway keys.
 *
 * Used by the integration suites, the demo and the benchmarks. Everything binds to loopback.
 */
import { readFileSync } from 'node:fs'
import {
  createClient,
  createPublicClient,
  createWalletClient,
  defineChain,
  erc20Abi,
  http,
  keccak256,
  maxUint256,
  parseAbi,
  toHex,
  type Abi,
  type Address,
  type Chain,
  type Client,
  type TransactionReceipt,
  type Hex,
  type PublicClient,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { tempoLocalnet } from 'viem/chains'
import { canonicalEscrow } from '../../src/chain/escrow-abi.js'
import { startAnvil, type Anvil } from './anvil.js'
import type { EscrowArtifact } from './escrow/compile.js'
import { startRpcProxy, type RpcProxy } from './rpc-proxy.js'

/** anvil's dev account 0 (the `test … junk` mnemonic): holds 2^64−1 of each preset TIP-20. */
const faucetKey: Hex = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'

/** Preset TIP-20 tokens of a Tempo-mode anvil, all with 6 decimals. */
export const devnetTokens = {
  pathUSD: '0x20c0000000000000000000000000000000000000',
  AlphaUSD: '0x20c0000000000000000000000000000000000001',
  BetaUSD: '0x20c0000000000000000000000000000000000002',
  ThetaUSD: '0x20c0000000000000000000000000000000000003',
} as const satisfies Record<string, Address>

/**
 * The devnet's default chain id: 1337, viem's `tempoLocalnet`. Not anvil's own default (31337)
 * because clients that resolve the chain from its id (the `mppx` CLI looks the RPC's id up among
 * viem's Tempo chains and refuses an unknown one) know only 4217, 42431, 31318 and 1337; 1337 is
 * also the chain `devnetChain` builds on.
 */
export const defaultDevnetChainId = 1337

/** Must equal `EXPIRING_NONCE_HASH_SLOT` in TIP20ChannelReserve.sol (checked by a test). */
export const nonceHashSlot = keccak256(toHex('mpp-gateway.devnet.escrow.expiringNonceHash'))

export type DevnetKey = { address: Address; privateKey: Hex }

export type DevnetInfo = {
  rpcUrl: string
  chainId: number
  escrow: Address
  tokens: typeof devnetTokens
  /** Session currency (what channels are denominated in). */
  token: Address
  feeToken: Address
  payee: DevnetKey
  payers: DevnetKey[]
}

/** What any process can do with a running devnet, knowing only its description. */
export type DevnetClient = DevnetInfo & {
  chain: Chain
  publicClient: PublicClient
  /** Creates and funds payer keys (session token, fee token, escrow approval). */
  newPayers(count: number, funds?: bigint): Promise<DevnetKey[]>
  /** Sends a contract call from `key` as a Tempo transaction and waits for a successful receipt. */
  write(
    key: Hex,
    request: { address: Address; abi: Abi; functionName: string; args?: readonly unknown[] },
  ): Promise<TransactionReceipt>
  /** A viem client acting as `key` on this devnet (what an mppx client is given). */
  clientFor(key: Hex): Client
  /** Gives an address fee-token funds (to pay for the transactions it sends); 100 units by default. */
  fundFees(address: Address, amount?: bigint): Promise<void>
  /** Token balance of an address in base units (session token by default). */
  balance(address: Address, token?: Address): Promise<bigint>
}

/** A devnet owned by this process. */
export type Devnet = DevnetClient & {
  /** anvil itself, bypassing the proxy (for `evm_*` and `anvil_*` calls). */
  anvilUrl: string
  anvilPid: number
  proxy: RpcProxy
  /**
   * Moves chain time forward and mines a block. Only on a devnet of one's own: afterwards
   * transactions with wall-clock expiring nonces (what MPP clients send) are rejected.
   */
  increaseTime(seconds: number): Promise<void>
  /**
   * Mines one block stamped exactly `timestamp` (later blocks continue from there). Use it where
   * a test needs a block at a precise distance from an earlier one: `increaseTime` adds to wall
   * time, so the gap also holds however long the test took in between.
   */
  mineAt(timestamp: number): Promise<void>
  /**
   * Turns anvil's automine off (transactions wait in the pool until {@link Devnet.mine}) or back
   * on. Only on a devnet of one's own: with automine off, nothing anyone sends lands by itself.
   */
  setAutomine(enabled: boolean): Promise<void>
  /** Mines one block with whatever waits in the pool. */
  mine(): Promise<void>
  stop(): Promise<void>
}

export type StartDevnetOptions = {
  payers?: number
  port?: number
  /** Chain id; {@link defaultDevnetChainId} when absent. */
  chainId?: number
  /** Session token given to payers; pathUSD by default. */
  token?: Address
  feeToken?: Address
  /** Bounded anvil memory for long runs (see `StartAnvilOptions.retain`). */
  retain?: { readonly states: number; readonly blocks: number }
}

const tip20Abi = parseAbi([
  'function transfer(address to, uint256 amount) returns (bool)',
  'function approve(address spender, uint256 amount) returns (bool)',
])

/** Base units of the session token each new payer receives: 1,000 units of a 6-decimal token. */
const defaultPayerFunds = 1_000_000_000n
/** Fee-token base units given to payers and the payee: 100 units. */
const feeFunds = 100_000_000n

/** Defines a viem chain for a devnet (Tempo formatters and serializers, the given id and URL). */
export function devnetChain(chainId: number, rpcUrl: string): Chain {
  return defineChain({
    ...tempoLocalnet,
    id: chainId,
    name: 'Tempo devnet',
    rpcUrls: { default: { http: [rpcUrl] } },
  })
}

function loadArtifact(): EscrowArtifact {
  return JSON.parse(
    readFileSync(new URL('./escrow/artifact.json', import.meta.url), 'utf8'),
  ) as EscrowArtifact
}

function newKey(): DevnetKey {
  const privateKey = generatePrivateKey()
  return { address: privateKeyToAccount(privateKey).address, privateKey }
}

/**
 * Connects to a running devnet. Transactions use Tempo expiring nonces, so several processes can
 * fund keys from the same faucet account at once without nonce clashes.
 */
export function connectDevnet(info: DevnetInfo): DevnetClient {
  const chain = devnetChain(info.chainId, info.rpcUrl)
  const publicClient = createPublicClient({ chain, transport: http(info.rpcUrl) }) as PublicClient
  const wallet = (key: Hex) =>
    createWalletClient({ account: privateKeyToAccount(key), chain, transport: http(info.rpcUrl) })

  /**
   * Sends a contract call as a Tempo transaction with an expiring nonce whose `validBefore` follows
   * chain time (so it still works after `evm_increaseTime`), and waits for its receipt.
   */
  const write: DevnetClient['write'] = async (key, request) => {
    const block = await publicClient.getBlock()
    const hash = await wallet(key).writeContract({
      ...request,
      feeToken: info.feeToken,
      nonceKey: 'expiring',
      // The later of chain time (moved by evm_increaseTime) and wall time (an idle chain's last
      // block is old; the next block is stamped with the current time).
      validBefore: Math.max(Number(block.timestamp), Math.floor(Date.now() / 1000)) + 20,
    } as never)
    const receipt = await publicClient.waitForTransactionReceipt({
      hash,
      pollingInterval: 50,
      timeout: 20_000,
    })
    if (receipt.status !== 'success') {
      throw new Error(`devnet transaction ${receipt.transactionHash} reverted`)
    }
    return receipt
  }

  const call = (
    key: Hex,
    token: Address,
    functionName: 'transfer' | 'approve',
    args: [Address, bigint],
  ) => write(key, { address: token, abi: tip20Abi, functionName, args }).then(() => undefined)

  const fundFees = (to: Address, amount = feeFunds) =>
    call(faucetKey, info.feeToken, 'transfer', [to, amount])

  return {
    ...info,
    chain,
    publicClient,
    fundFees,
    write,
    clientFor: (key) =>
      createClient({ account: privateKeyToAccount(key), chain, transport: http(info.rpcUrl) }),
    async newPayers(count, funds = defaultPayerFunds) {
      const keys = Array.from({ length: count }, newKey)
      await Promise.all(
        keys.map(async (key) => {
          await call(faucetKey, info.token, 'transfer', [key.address, funds])
          if (info.feeToken.toLowerCase() !== info.token.toLowerCase()) await fundFees(key.address)
          // The TIP-1034 precompile reserves deposits natively; the Solidity stand-in pulls them
          // with `transferFrom`, so each payer approves the escrow once, here.
          await call(key.privateKey, info.token, 'approve', [info.escrow, maxUint256])
        }),
      )
      return keys
    },
    async balance(address, token = info.token) {
      return publicClient.readContract({
        address: token,
        abi: erc20Abi,
        functionName: 'balanceOf',
        args: [address],
      })
    },
  }
}

/** Starts a devnet and resolves once the escrow is installed and the keys are funded. */
export async function startDevnet(options: StartDevnetOptions = {}): Promise<Devnet> {
  const anvil: Anvil = await startAnvil({
    ...(options.port !== undefined ? { port: options.port } : {}),
    chainId: options.chainId ?? defaultDevnetChainId,
    ...(options.retain ? { retain: options.retain } : {}),
  })
  let proxy: RpcProxy | undefined
  try {
    const rpc = async (method: string, params: unknown[]) => {
      const res = await fetch(anvil.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      })
      const body = (await res.json()) as { result?: unknown; error?: { message: string } }
      if (body.error) throw new Error(`${method}: ${body.error.message}`)
      return body.result
    }

    const escrow = canonicalEscrow
    await rpc('anvil_setCode', [escrow, loadArtifact().deployedBytecode])
    // A non-zero placeholder lets gas estimation of `open` succeed before the proxy seeds the
    // real hash for the transaction itself.
    await rpc('anvil_setStorageAt', [escrow, nonceHashSlot, toHex(1n, { size: 32 })])
    proxy = await startRpcProxy({
      upstream: anvil.url,
      escrow,
      nonceHashSlot,
      ...(options.retain ? { maxCalls: 10_000 } : {}),
    })

    const info: DevnetInfo = {
      rpcUrl: proxy.url,
      chainId: Number(await rpc('eth_chainId', [])),
      escrow,
      tokens: devnetTokens,
      token: options.token ?? devnetTokens.pathUSD,
      feeToken: options.feeToken ?? devnetTokens.AlphaUSD,
      payee: newKey(),
      payers: [],
    }
    const client = connectDevnet(info)
    // The payee submits settle/close transactions and pays their fees in the fee token.
    await client.fundFees(info.payee.address)
    info.payers = await client.newPayers(options.payers ?? 2)

    const ownedProxy = proxy
    return {
      ...client,
      payers: info.payers,
      anvilUrl: anvil.url,
      anvilPid: anvil.pid,
      proxy: ownedProxy,
      async increaseTime(seconds) {
        await rpc('evm_increaseTime', [seconds])
        await rpc('evm_mine', [])
      },
      async mineAt(timestamp) {
        await rpc('evm_mine', [timestamp])
      },
      async setAutomine(enabled) {
        await rpc('evm_setAutomine', [enabled])
      },
      async mine() {
        await rpc('evm_mine', [])
      },
      async stop() {
        await ownedProxy.close()
        await anvil.stop()
      },
    }
  } catch (err) {
    await proxy?.close()
    await anvil.stop()
    throw err
  }
}

/** The JSON-serializable part of a devnet, as printed by `npm run devnet`. */
export function devnetInfo(devnet: Devnet): DevnetInfo {
  const { rpcUrl, chainId, escrow, tokens, token, feeToken, payee, payers } = devnet
  return { rpcUrl, chainId, escrow, tokens, token, feeToken, payee, payers }
}
