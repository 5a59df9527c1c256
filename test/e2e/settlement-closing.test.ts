/**
 * A channel left `closing` by a cooperative close that could not finish (its transaction failed
 * and Redis refused the reopening, or the process died in between) is given back to its payer by
 * the close watcher's reconciliation after a bounded time — unless a transaction of it is still
 * pending, which decides the channel's fate instead.
 */
import { tempo } from 'mppx/client'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Gateway } from '../../src/gateway.js'
import { createMemoryLedger } from '../../src/ledger/memory.js'
import { createMemorySettlementStore } from '../../src/settlement/store.js'
import { connectDevnet, type DevnetClient, type DevnetKey } from '../devnet/devnet.js'
import { startExampleUpstream, type ExampleUpstream } from '../support/example-upstream.js'
import { devnetConfig, memoryLogger, startTestGateway } from '../support/gateway.js'
import { until } from '../support/wait.js'

const path = '/v1/execution/stale/results'

describe('a channel left closing', () => {
  let devnet: DevnetClient
  let upstream: ExampleUpstream
  let gateway: Gateway
  const ledger = createMemoryLedger()
  const store = createMemorySettlementStore()
  const { logger, lines } = memoryLogger()

  beforeAll(async () => {
    devnet = connectDevnet(inject('devnet'))
    upstream = await startExampleUpstream()
    gateway = await startTestGateway({
      config: devnetConfig({
        devnet,
        upstreamUrl: upstream.url,
        edit: (doc) => {
          doc.setIn(['session', 'suggestedDeposit'], '1')
          // Reconcile every second; a channel closing for 2 s (2 × lock TTL) counts as left so.
          doc.set('settlement', {
            amountThreshold: '1000',
            pollIntervalMs: 200,
            reconcileIntervalSeconds: 1,
            lockTtlMs: 1000,
            receiptTimeoutMs: 1000,
          })
        },
      }),
      storage: { ledger, index: ledger.index, store },
      logger,
    })
  })
  afterAll(async () => {
    await gateway.stop()
    await upstream.close()
  })

  async function openChannel() {
    const [payer] = (await devnet.newPayers(1)) as [DevnetKey]
    const session = tempo.session.manager({
      client: devnet.clientFor(payer.privateKey),
      maxDeposit: '1',
    })
    const response = await session.fetch(`${gateway.url}${path}`)
    expect(response.status).toBe(200)
    await response.arrayBuffer()
    return { session, channelId: session.channelId! }
  }

  it('is reopened, and pays again; one with a pending transaction stays closing', async () => {
    const stuck = await openChannel()
    const inFlight = await openChannel()
    // What a failed close leaves behind when its reopening failed too.
    await ledger.markClosing(stuck.channelId, Date.now())
    // The other one has its close transaction still pending (it may yet land).
    await ledger.markClosing(inFlight.channelId, Date.now())
    const lease = (await store.acquire(inFlight.channelId, 'a-close', 60_000))!
    await store.saveIntent(lease, {
      channelId: inFlight.channelId,
      kind: 'close',
      cumulative: 10_000n,
      capture: 10_000n,
      txHash: `0x${'cd'.repeat(32)}`,
      rawTransaction: '0x76c0',
      validBefore: Math.floor(Date.now() / 1000) + 3600,
      fence: lease.fence,
      createdAt: Date.now(),
    })
    await store.release(lease)

    const refused = await stuck.session.fetch(`${gateway.url}${path}`)
    expect(refused.status).toBe(410)
    await refused.arrayBuffer()

    await until('the stuck channel to be reopened', async () =>
      (await ledger.get(stuck.channelId))?.status === 'open' ? true : undefined,
    )
    expect(
      lines.filter(
        (l) => l.msg === 'reopened a channel left closing by a close that did not finish',
      ),
    ).toEqual([expect.objectContaining({ channelId: stuck.channelId })])
    expect((await ledger.get(inFlight.channelId))?.status).toBe('closing')

    const paid = await stuck.session.fetch(`${gateway.url}${path}`)
    expect(paid.status).toBe(200)
    await paid.arrayBuffer()
    expect((await ledger.get(stuck.channelId))?.spent).toBe(20_000n)
  })
})
