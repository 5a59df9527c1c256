/**
 * The unsettled-exposure gauge and `mpp-gateway channels` read the same figure: with the Redis
 * ledger, after real mppx payers have paid and nothing was settled, the gauge a scrape shows is
 * the total the operator's command prints (and the sum of its rows), to the base unit.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { tempo } from 'mppx/client'
import { formatUnits } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseDocument } from 'yaml'
import { cliOutput } from '../support/cli-process.js'
import { startDevnetGateway, type DevnetGateway } from '../support/devnet-gateway.js'
import { devnetEnv } from '../support/gateway.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { samples, scrape } from '../support/scrape.js'

const token = 'metrics-token-for-the-exposure-test-32b'

describe('the unsettled exposure gauge', () => {
  let redis: RedisServer
  let setup: DevnetGateway
  let configPath: string

  beforeAll(async () => {
    redis = await startRedisServer({ appendonly: true, appendfsync: 'always' })
    const edit = (doc: ReturnType<typeof parseDocument>) => {
      doc.setIn(['ledger'], { type: 'redis', redis: { url: redis.url, keyPrefix: 'exposure:' } })
      doc.setIn(['settlement', 'enabled'], false)
      doc.setIn(['server', 'metricsToken'], '${METRICS_TOKEN}')
    }
    setup = await startDevnetGateway({ edit, extraEnv: { METRICS_TOKEN: token } })
    const doc = parseDocument(readFileSync('config/devnet.yaml', 'utf8'))
    edit(doc)
    configPath = join(mkdtempSync(join(tmpdir(), 'mppgw-exposure-')), 'gateway.yaml')
    writeFileSync(configPath, doc.toString())
  })
  afterAll(async () => {
    await setup?.stop()
    await redis?.stop()
  })

  it('equals the total of `mpp-gateway channels`', async () => {
    const { devnet, gateway, upstream } = setup
    const payers = await devnet.newPayers(2)
    for (const [index, payer] of payers.entries()) {
      const session = tempo.session.manager({
        client: devnet.clientFor(payer.privateKey),
        maxDeposit: '1',
      })
      // Three requests from the first payer, two from the second: 0.03 and 0.02.
      for (let i = 0; i < 3 - index; i++) {
        const response = await session.fetch(`${gateway.url}/v1/execution/x${index}${i}/results`)
        expect(response.status).toBe(200)
        await response.arrayBuffer()
      }
    }

    const response = await scrape(gateway.url, token)
    expect(response.status).toBe(200)
    const values = samples(await response.text())
    const gauge = values.get('mppgw_unsettled_exposure_base_units')
    expect(gauge).toBe('50000')
    expect(values.get('mppgw_unsettled_channels')).toBe('2')

    const listed = await cliOutput(['channels', '--config', configPath], {
      ...devnetEnv(devnet, upstream.url),
      METRICS_TOKEN: token,
    })
    expect(listed.code).toBe(0)
    const rows = listed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { unsettled: string })
    expect(rows.map((row) => row.unsettled)).toEqual(['30000', '20000'])
    const sum = rows.reduce((total, row) => total + BigInt(row.unsettled), 0n)
    expect(String(sum)).toBe(gauge)
    expect(listed.stderr).toContain(
      `2 channel(s) with unsettled value, ${formatUnits(BigInt(gauge!), 6)} in total`,
    )
  })
})
