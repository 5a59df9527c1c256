/**
 * Settlement when many transactions of the payee are in flight at once, on a devnet of its own
 * mined by hand (automine off), a Redis ledger on a real redis-server, and a settler run round by
 * round:
 *  - 20 settles from one payee landing in ONE block are each recorded with their own `Settled`
 *    event (receipts are read by hash: every other payee transaction in the block has the same
 *    sender and expiring nonce), their receipts polled together in one JSON-RPC batch;
 *  - a cooperative close sent while a settle is still undecided answers 204 and captures exactly
 *    `spent` (it supersedes the settle; both land in one block);
 *  - the finalized channel's fence key expires with it.
 */
import { tempo } from 'mppx/client'
import type { Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { escrowAbi } from '../../src/chain/escrow-abi.js'
import { createEscrowClient } from '../../src/chain/escrow.js'
import type { Gateway } from '../../src/gateway.js'
import { redisKeys } from '../../src/ledger/redis/keys.js'
import { createRedisLedger, type RedisLedger } from '../../src/ledger/redis/ledger.js'
import { createRedisSettlementStore } from '../../src/ledger/redis/settlement-store.js'
import { decodeReceipt } from '../../src/protocol/receipt.js'
import { createSettler, type Settler } from '../../src/settlement/settler.js'
import type { SettlementStore } from '../../src/settlement/store.js'
import {
  devnetChain,
  devnetInfo,
  startDevnet,
  type Devnet,
  type DevnetKey,
} from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { devnetConfig, memoryLogger, startTestGateway } from '../support/gateway.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { escrowTransactions } from '../support/settle-transactions.js'
import { fetchChallenge, voucherSigner } from '../support/vouchers.js'
import { until } from '../support/wait.js'

const price = 10_000n // "0.01" in config/devnet.yaml
const path = '/v1/execution/load/results'
const keyPrefix = 'load:'

describe('settlement with many payee transactions in flight', () => {
  let devnet: Devnet
  let upstream: ExampleUpstream
  let redis: RedisServer
  let ledger: RedisLedger
  let store: SettlementStore
  let gateway: Gateway
  let settler: Settler
  const settlerLog = memoryLogger()

  beforeAll(async () => {
    devnet = await startDevnet({ payers: 0 })
    upstream = await startExampleUpstream({ record: false })
    redis = await startRedisServer()
    // Generous command time-outs: this suite is about the chain, not about Redis outages, and
    // must not fail on a busy machine because one command took more than the default 2 s.
    ledger = await createRedisLedger({ url: redis.url, keyPrefix, commandTimeoutMs: 15_000 })
    store = createRedisSettlementStore({ client: ledger.client, keyPrefix })
    // The gateway takes payments and closes; its own settler is off, the test runs one itself.
    gateway = await startTestGateway({
      config: devnetConfig({
        devnet: devnetInfo(devnet),
        upstreamUrl: upstream.url,
        edit: (doc) => {
          doc.setIn(['session', 'suggestedDeposit'], '1')
          doc.setIn(['ledger'], { type: 'redis', redis: { url: redis.url, keyPrefix } })
          doc.set('settlement', { enabled: false, receiptTimeoutMs: 20_000 })
        },
      }),
    })
    const escrow = createEscrowClient({
      chain: devnetChain(devnet.chainId, devnet.rpcUrl),
      rpcUrl: devnet.rpcUrl,
      escrow: devnet.escrow,
      account: privateKeyToAccount(devnet.payee.privateKey),
      feeToken: devnet.feeToken,
    })
    settler = createSettler({
      ledger,
      index: ledger.index,
      store,
      submit: {
        escrow,
        store,
        ledger,
        logger: settlerLog.logger,
        now: Date.now,
        // Long enough for the test to mine; the close test shortens its own wait below.
        receiptTimeoutMs: 20_000,
      },
      policy: { amountThreshold: 10n ** 12n, maxUnsettledMs: 86_400_000, depositPercent: 100 },
      owner: 'test-settler',
      lockTtlMs: 30_000,
      pollIntervalMs: 1_000,
      maxAttempts: 8,
      closeMarginSeconds: 300,
      logger: settlerLog.logger,
      now: Date.now,
    })
  })
  afterAll(async () => {
    await settler.stop()
    await gateway.stop()
    await ledger.close()
    await redis.stop()
    await upstream.close()
    await devnet.stop()
  })

  /** A channel opened by the real mppx client, with `requests` paid requests. */
  async function paidChannel(payer: DevnetKey, requests: number) {
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '1',
    })
    for (let i = 0; i < requests; i++) {
      const response = await session.fetch(`${gateway.url}${path}?i=${i}`)
      expect(response.status).toBe(200)
      await response.arrayBuffer()
    }
    return session.channelId!
  }

  const settledEvents = (channelId?: Hex) =>
    devnet.publicClient.getContractEvents({
      address: devnet.escrow,
      abi: escrowAbi,
      eventName: 'Settled',
      ...(channelId ? { args: { channelId } } : {}),
      fromBlock: 0n,
    })

  it('20 settles of one payee in one block are each recorded with their own Settled event', async () => {
    const payers = await devnet.newPayers(20)
    const channels = await Promise.all(payers.map((payer) => paidChannel(payer, 2)))

    await devnet.setAutomine(false)
    try {
      const round = settler.runOnce({ shuttingDown: true })
      await until(
        '20 settle transactions in the pool',
        async () => {
          const failed = settlerLog.lines.filter((l) => Number(l.level) >= 40)
          if (failed.length > 0) throw new Error(`settler failed: ${JSON.stringify(failed[0])}`)
          if (escrowTransactions(devnet, 'settle').size < 20) return undefined
          // The proxy logs a transaction as it is sent; mine only once anvil's pool holds all 20.
          const pool = await devnet.publicClient.request<{
            Method: 'txpool_status'
            Parameters: undefined
            ReturnType: { pending: string | number }
          }>({ method: 'txpool_status' })
          return Number(pool.pending) >= 20 ? true : undefined
        },
        60_000,
      )
      await devnet.mine()
      await round
    } finally {
      await devnet.setAutomine(true)
    }

    const events = await settledEvents()
    expect(events).toHaveLength(20)
    expect(new Set(events.map((e) => e.blockNumber)).size).toBe(1)
    for (const channelId of channels) {
      const record = (await ledger.get(channelId))!
      expect(record.spent).toBe(2n * price)
      expect(record.settled).toBe(2n * price)
      const own = events.filter((e) => e.args.channelId === channelId)
      expect(own.map((e) => e.args.newSettled)).toEqual([2n * price])
    }
    const lines = settlerLog.lines
    expect(lines.filter((l) => l.msg === 'channel settled')).toHaveLength(20)
    expect(lines.filter((l) => Number(l.level) >= 40)).toEqual([])
    expect(await store.pendingIntents()).toEqual([])
    // The receipts were asked for together: one batch held all 20 hashes.
    const receiptBatches = devnet.proxy.batches.map(
      (methods) => methods.filter((m) => m === 'eth_getTransactionReceipt').length,
    )
    expect(Math.max(...receiptBatches)).toBe(20)
  }, 120_000)

  it('a close sent while a settle is undecided answers 204 and captures exactly spent; its fence expires', async () => {
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const payerBefore = await devnet.balance(payer.address)
    const channelId = await paidChannel(payer, 3)
    const record = (await ledger.get(channelId))!
    expect(record).toMatchObject({ spent: 3n * price, settled: 0n })

    await devnet.setAutomine(false)
    try {
      // The settle goes out and stays unmined; its settler gives up waiting (outcome unknown).
      const impatient = createSettlerWithTimeout(1_000)
      await impatient.runOnce({ shuttingDown: true })
      expect(await store.intent(channelId)).toMatchObject({ kind: 'settle' })
      expect(escrowTransactions(devnet, 'settle', channelId).size).toBe(1)

      const signer = voucherSigner({
        payerKey: payer.privateKey,
        chainId: devnet.chainId,
        escrow: devnet.escrow,
        channelId,
        descriptor: record.descriptor,
        challenge: await fetchChallenge(`${gateway.url}${path}`),
      })
      const closing = fetch(`${gateway.url}${path}`, {
        method: 'POST',
        headers: { authorization: await signer.closeCredential(3n * price) },
      })
      await until('the close transaction in the pool', async () =>
        escrowTransactions(devnet, 'close', channelId).size === 1 ? true : undefined,
      )
      // Settle and close land in one block.
      await devnet.mine()
      const response = await closing
      expect(response.status).toBe(204)
      const receipt = decodeReceipt(response.headers.get('payment-receipt')!)
      expect(receipt).toMatchObject({ channelId, spent: String(3n * price) })
      expect(receipt.txHash).toBe([...escrowTransactions(devnet, 'close', channelId)][0])
    } finally {
      await devnet.setAutomine(true)
    }

    const [closed] = await devnet.publicClient.getContractEvents({
      address: devnet.escrow,
      abi: escrowAbi,
      eventName: 'ChannelClosed',
      args: { channelId },
      fromBlock: 0n,
    })
    expect(closed!.args.settledToPayee).toBe(3n * price)
    // The superseded settle landed in the same block before the close, or after it and reverted
    // (the order inside a block is the node's): either way the payee holds exactly spent.
    const settles = await settledEvents(channelId)
    expect(settles.length).toBeLessThanOrEqual(1)
    for (const settle of settles) {
      expect(settle.blockNumber).toBe(closed!.blockNumber)
      expect(settle.args.newSettled!).toBeLessThanOrEqual(3n * price)
    }
    expect(await ledger.get(channelId)).toMatchObject({ status: 'finalized', settled: 3n * price })
    expect(await devnet.balance(payer.address)).toBe(payerBefore - 3n * price)

    // The finalized channel's fence goes with it.
    const fence = redisKeys(keyPrefix).fence(channelId.toLowerCase() as Hex)
    expect(await ledger.client.exists(fence)).toBe(1)
    expect(await ledger.client.ttl(fence)).toBeGreaterThan(0)
  }, 120_000)

  /** A second settler on the same ledger that waits only `receiptTimeoutMs` for a receipt. */
  function createSettlerWithTimeout(receiptTimeoutMs: number): Settler {
    const escrow = createEscrowClient({
      chain: devnetChain(devnet.chainId, devnet.rpcUrl),
      rpcUrl: devnet.rpcUrl,
      escrow: devnet.escrow,
      account: privateKeyToAccount(devnet.payee.privateKey),
      feeToken: devnet.feeToken,
    })
    const { logger } = memoryLogger()
    return createSettler({
      ledger,
      index: ledger.index,
      store,
      submit: { escrow, store, ledger, logger, now: Date.now, receiptTimeoutMs },
      policy: { amountThreshold: 10n ** 12n, maxUnsettledMs: 86_400_000, depositPercent: 100 },
      owner: 'impatient-settler',
      lockTtlMs: 30_000,
      pollIntervalMs: 1_000,
      maxAttempts: 8,
      closeMarginSeconds: 300,
      logger,
      now: Date.now,
    })
  }
})
