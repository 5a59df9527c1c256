/**
 * Settlement on a devnet of its own (chain time moves here): value reaches the payee on schedule,
 * never above what was served, ahead of a payer's forced close, and through RPC failures without
 * ever submitting a second transaction.
 */
import { tempo } from 'mppx/client'
import { parseEventLogs, type Hex } from 'viem'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { escrowAbi } from '../../src/chain/escrow-abi.js'
import type { Gateway } from '../../src/gateway.js'
import type { ChannelRecord } from '../../src/ledger/port.js'
import { devnetInfo, startDevnet, type Devnet, type DevnetKey } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { settleTransactions } from '../support/settle-transactions.js'
import { until, holdsConfirmed } from '../support/wait.js'
import { devnetConfig, startTestGateway } from '../support/gateway.js'

const price = 10_000n

describe('settlement', () => {
  let devnet: Devnet
  let upstream: ExampleUpstream
  let gateway: Gateway | undefined

  beforeAll(async () => {
    devnet = await startDevnet({ payers: 0 })
    upstream = await startExampleUpstream()
  })
  afterEach(async () => {
    devnet.proxy.clearFaults()
    await gateway?.stop()
    gateway = undefined
  })
  afterAll(async () => {
    await upstream.close()
    await devnet.stop()
  })

  async function start(
    settlement: Record<string, unknown>,
    edit?: (doc: Parameters<NonNullable<Parameters<typeof devnetConfig>[0]['edit']>>[0]) => void,
  ) {
    gateway = await startTestGateway({
      // Every settlement here goes through the chain thread, as in production.
      chainThread: true,
      config: devnetConfig({
        devnet: devnetInfo(devnet),
        upstreamUrl: upstream.url,
        edit: (doc) => {
          edit?.(doc)
          doc.setIn(['session', 'suggestedDeposit'], '1')
          doc.set('settlement', {
            pollIntervalMs: 100,
            receiptTimeoutMs: 3000,
            reconcileIntervalSeconds: 1,
            ...settlement,
          })
        },
      }),
    })
    return gateway
  }

  /** The payer requests a forced close on chain; waits (bounded) until the ledger shows `done`. */
  async function requestCloseUntil(
    gw: Gateway,
    key: DevnetKey,
    record: ChannelRecord,
    done: (r: ChannelRecord) => boolean,
  ): Promise<ChannelRecord> {
    await devnet.write(key.privateKey, {
      address: devnet.escrow,
      abi: escrowAbi,
      functionName: 'requestClose',
      args: [record.descriptor],
    })
    return until(
      'the gateway to act on the forced close',
      async () => {
        const r = await gw.deps.ledger.get(record.channelId)
        return r && done(r) ? r : undefined
      },
      10_000,
    )
  }

  async function payer() {
    const [key] = (await devnet.newPayers(1)) as [DevnetKey]
    const client = devnet.clientFor(key.privateKey)
    return { key, session: tempo.session.manager({ client, maxDeposit: '1' }) }
  }

  const settledEvents = async (channelId: Hex) =>
    devnet.publicClient.getContractEvents({
      address: devnet.escrow,
      abi: escrowAbi,
      eventName: 'Settled',
      args: { channelId },
      fromBlock: 0n,
    })

  it('settles at the threshold while paid traffic flows, never above what was spent', async () => {
    const gw = await start({ amountThreshold: '0.05', depositPercent: 100 })
    const { session } = await payer()
    for (let i = 0; i < 12; i++) {
      if (i === 3 || i === 7) upstream.failNext(1, 500)
      const response = await session.fetch(`${gw.url}/v1/execution/t${i}/results`)
      await response.arrayBuffer()
    }
    const channelId = session.channelId!
    await until('a settlement', async () => {
      const r = await gw.deps.ledger.get(channelId)
      return r && r.settled > 0n ? r : undefined
    })
    // Settlements start the moment a charge reaches the threshold: let the one in flight land
    // (stopping waits for it), so the ledger and the chain are compared at rest.
    await gw.settlement!.settler.stop()
    const record = (await gw.deps.ledger.get(channelId))!
    expect(record.spent).toBe(10n * price)
    const events = await settledEvents(channelId)
    expect(events.length).toBeGreaterThan(0)
    for (const event of events) expect(event.args.newSettled!).toBeLessThanOrEqual(record.spent)
    expect(events.at(-1)!.args.newSettled).toBe(record.settled)
  })

  it('settles a channel when a charge reaches the threshold, not at the next poll', async () => {
    // A poll a minute away: only the charge that reaches the threshold can start this settlement.
    const gw = await start({
      amountThreshold: '0.03',
      depositPercent: 100,
      maxUnsettledSeconds: 86400,
      pollIntervalMs: 60_000,
    })
    const { session } = await payer()
    for (let i = 0; i < 3; i++) {
      await (await session.fetch(`${gw.url}/v1/execution/x${i}/results`)).arrayBuffer()
    }
    const channelId = session.channelId!
    const record = await until(
      'the settlement of the charge that reached the threshold',
      async () => {
        const r = await gw.deps.ledger.get(channelId)
        return r && r.settled > 0n ? r : undefined
      },
      20_000,
    )
    // Exactly the threshold: the settlement claimed the figures of the crossing, nothing later.
    expect(record.settled).toBe(3n * price)
    expect((await settledEvents(channelId)).map((e) => e.args.newSettled)).toEqual([3n * price])
  })

  it('never settles above spent: uncharged failures are not captured', async () => {
    const gw = await start({ amountThreshold: '1000', depositPercent: 100 })
    const { session } = await payer()
    for (let i = 0; i < 6; i++) {
      if (i % 2 === 1) upstream.failNext(1, 503)
      await (await session.fetch(`${gw.url}/v1/execution/n${i}/results`)).arrayBuffer()
    }
    const channelId = session.channelId!
    const record = (await gw.deps.ledger.get(channelId))!
    expect(record.spent).toBe(3n * price)
    expect(record.accepted.cumulative).toBeGreaterThan(record.spent)
    await holdsConfirmed(gw.deps.ledger, channelId)
    await gw.settlement!.settler.runOnce({ shuttingDown: true })
    const events = await settledEvents(channelId)
    expect(events.at(-1)?.args.newSettled).toBe(3n * price)
    expect((await gw.deps.ledger.get(channelId))!.settled).toBe(3n * price)
  })

  it('rides out RPC errors and hangs with retries, and submits one transaction only', async () => {
    const gw = await start({
      amountThreshold: '1000',
      depositPercent: 100,
      maxUnsettledSeconds: 86400,
    })
    const { session } = await payer()
    for (let i = 0; i < 4; i++)
      await (await session.fetch(`${gw.url}/v1/execution/r${i}/results`)).arrayBuffer()
    const channelId = session.channelId!
    // All four charges settleable before the first round, so one transaction settles them.
    await holdsConfirmed(gw.deps.ledger, channelId)

    devnet.proxy.injectFault({ methods: ['eth_sendRawTransaction'], kind: 'error', times: 2 })
    devnet.proxy.injectFault({
      methods: ['eth_getTransactionReceipt'],
      kind: 'hang',
      times: 2,
      holdMs: 1_500,
    })
    const record = await until(
      'settlement through the faults',
      async () => {
        await gw.settlement!.settler.runOnce({ shuttingDown: true })
        const r = await gw.deps.ledger.get(channelId)
        return r && r.settled === 4n * price ? r : undefined
      },
      40_000,
    )
    expect(record.settled).toBe(4n * price)
    expect(settleTransactions(devnet, channelId).size).toBe(1)
    const events = await settledEvents(channelId)
    expect(events).toHaveLength(1)
    expect(events[0]!.args.newSettled).toBe(4n * price)
    const sends = devnet.proxy.calls.filter((c) => c.method === 'eth_sendRawTransaction').length
    expect(sends).toBeGreaterThan(1)
  }, 60_000)
  it('a forced close after an uncharged failure is closed at exactly spent, at once', async () => {
    // Execute at another price than results, so the released execute leaves a gap no later
    // voucher closes.
    const execute = 13_700n
    const gw = await start(
      { amountThreshold: '1000', depositPercent: 100, maxUnsettledSeconds: 86400 },
      (doc) => doc.setIn(['routes', 0, 'price'], '0.0137'),
    )
    const { key, session } = await payer()
    const payeeBefore = await devnet.balance(devnet.payee.address)
    const payerBefore = await devnet.balance(key.address)
    await (await session.fetch(`${gw.url}/v1/execution/g0/results`)).arrayBuffer()
    upstream.failNext(1, 500)
    const failed = await session.fetch(`${gw.url}/v1/sql/execute`, {
      method: 'POST',
      body: JSON.stringify({ query_sql: 'select 1' }),
      headers: { 'content-type': 'application/json' },
    })
    expect(failed.status).toBe(500)
    await failed.arrayBuffer()
    for (let i = 1; i < 3; i++)
      await (await session.fetch(`${gw.url}/v1/execution/g${i}/results`)).arrayBuffer()
    const channelId = session.channelId!
    const record = (await gw.deps.ledger.get(channelId))!
    // Three served, the execute released: the highest voucher is its price ahead of spent, and no
    // voucher equals spent, so `settle` could not capture what was served.
    expect(record).toMatchObject({ spent: 3n * price, settled: 0n })
    expect(record.accepted.cumulative).toBe(3n * price + execute)
    expect(record.settleVoucher?.cumulative ?? 0n).toBeLessThan(3n * price)

    // The gateway's own close recorded (closeTxHash), not only the channel seen gone from chain:
    // the close watcher may fold that in first, before the close's receipt is recorded.
    const closed = await requestCloseUntil(
      gw,
      key,
      record,
      (r) => r.status === 'finalized' && r.closeTxHash !== undefined,
    )
    expect(closed.settled).toBe(3n * price)
    expect(await devnet.balance(devnet.payee.address)).toBe(payeeBefore + 3n * price)
    expect(await devnet.balance(key.address)).toBe(payerBefore - 3n * price)
  })

  // Last: it moves chain time past the grace period, after which wall-clock clients cannot open.
  it('a forced close is settled within seconds; the payer withdraws exactly deposit − settled', async () => {
    const gw = await start({
      amountThreshold: '1000',
      depositPercent: 100,
      maxUnsettledSeconds: 86400,
    })
    const { key, session } = await payer()
    for (let i = 0; i < 5; i++)
      await (await session.fetch(`${gw.url}/v1/execution/f${i}/results`)).arrayBuffer()
    const channelId = session.channelId!
    const record = (await gw.deps.ledger.get(channelId))!
    expect(record.settled).toBe(0n)
    const payeeBefore = await devnet.balance(devnet.payee.address)
    const payerBefore = await devnet.balance(key.address)

    const settled = await requestCloseUntil(gw, key, record, (r) => r.settled === 5n * price)
    expect(settled.closeRequestedAt).toBeGreaterThan(0)

    // No more paid requests on a channel being force-closed.
    const refused = await gw.deps.ledger.authorize({
      channelId,
      voucher: undefined,
      amount: price,
      mode: 'commit',
      minDelta: 0n,
      now: Date.now(),
    })
    expect(refused.kind).toBe('closing')

    await devnet.increaseTime(900)
    const receipt = await devnet.write(key.privateKey, {
      address: devnet.escrow,
      abi: escrowAbi,
      functionName: 'withdraw',
      args: [record.descriptor],
    })
    const [closed] = parseEventLogs({
      abi: escrowAbi,
      eventName: 'ChannelClosed',
      logs: receipt.logs,
    })
    expect(closed!.args.refundedToPayer).toBe(record.deposit - 5n * price)
    expect(await devnet.balance(key.address)).toBe(payerBefore + record.deposit - 5n * price)
    expect(await devnet.balance(devnet.payee.address)).toBe(payeeBefore + 5n * price)
  })
})
