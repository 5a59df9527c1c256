/**
 * `npm run profile:steps -- <file.cpuprofile> [--cpu-us=<gateway CPU µs per request>]`: where a
 * gateway's CPU goes, by step of a paid request, from a V8 CPU profile (`npm run bench --
 * --rows=settler-off --cpu-prof=<dir>` writes one per gateway child).
 *
 * Each sample is given to the step of the innermost frame on its stack that a rule below claims
 * (a sample in the secp256k1 addon called from the voucher check is "recover signer"; one in undici
 * called from the forwarder is "forward"); samples no rule claims are "other JS", and V8's own
 * entries are kept apart (GC, idle). With `--cpu-us` (the bench table's "server CPU µs/req" of the
 * profiled row) each step's share of the busy time is also given in µs per request.
 */
import { readFileSync } from 'node:fs'

type CallFrame = { functionName: string; url: string }
type ProfileNode = { id: number; callFrame: CallFrame; children?: number[] }
type CpuProfile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

/** Steps in the order a paid request meets them; the first rule matching a frame wins. */
const rules: readonly { step: string; test: (frame: CallFrame) => boolean }[] = [
  {
    step: 'parse credential',
    test: (f) => /protocol\/(credential|authorization)|session\/payload/.test(f.url),
  },
  { step: 'challenge HMAC', test: (f) => /pricing\/challenges|gate\/offers/.test(f.url) },
  {
    step: 'voucher digest',
    test: (f) => /keccak|voucher-digest|eip712/i.test(f.url) || f.functionName === 'voucherDigest',
  },
  { step: 'recover signer', test: (f) => /secp256k1|voucher-signature/.test(f.url) },
  { step: 'ledger', test: (f) => /\/ledger\/|ioredis|redis-parser/.test(f.url) },
  { step: 'forward (undici)', test: (f) => /\/upstream\/|undici/.test(f.url) },
  { step: 'receipt', test: (f) => /protocol\/receipt/.test(f.url) },
  { step: 'access log (pino)', test: (f) => /pino|sonic-boom|access-log/.test(f.url) },
  { step: 'metrics', test: (f) => /prom-client|http\/metrics/.test(f.url) },
  {
    step: 'settler, chain, viem/ox helpers',
    test: (f) => /\/settlement\/|\/chain\/|viem|\box\//.test(f.url),
  },
  { step: 'gate (other)', test: (f) => /\/gate\/|\/session\/|\/pricing\//.test(f.url) },
  {
    step: 'HTTP server (node, hono)',
    test: (f) =>
      /hono|node-server|node:_http|node:net|node:stream/.test(f.url) ||
      ['writev', 'writeLatin1String', 'writeString', 'writeUtf8String'].includes(f.functionName),
  },
  { step: 'module loading (start-up)', test: (f) => /node:internal\/modules/.test(f.url) },
]

const vmEntries = new Map([
  ['(garbage collector)', 'GC'],
  ['(idle)', 'idle'],
  ['(program)', 'V8 / native (program)'],
])

function main(args: readonly string[]): void {
  const file = args.find((a) => !a.startsWith('--'))
  if (!file) throw new Error('usage: profile-steps <file.cpuprofile> [--cpu-us=<µs>]')
  const cpuArg = args.find((a) => a.startsWith('--cpu-us='))?.slice('--cpu-us='.length)
  const cpuUs = cpuArg === undefined ? undefined : Number(cpuArg)
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile

  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  // The step of each node, decided once: its own frame's rule, else its parent's step.
  const stepOf = new Map<number, string>()
  const resolve = (id: number): string => {
    const known = stepOf.get(id)
    if (known !== undefined) return known
    const node = byId.get(id)!
    const vm = vmEntries.get(node.callFrame.functionName)
    const own = vm ?? rules.find((r) => r.test(node.callFrame))?.step
    const up = parent.get(id)
    const step = own ?? (up === undefined ? 'other JS' : resolve(up))
    stepOf.set(id, step)
    return step
  }
  // Innermost wins: a frame's own rule beats its callers', so resolve walks leaf to root only
  // until a rule matches (above); V8 entries sit at the root level and keep their own names.
  const time = new Map<string, number>()
  profile.samples.forEach((id, i) => {
    const step = resolve(id)
    time.set(step, (time.get(step) ?? 0) + (profile.timeDeltas[i] ?? 0))
  })
  // Idle time and start-up are not a request's: the shares are of the rest.
  const counted = (step: string) => step !== 'idle' && step !== 'module loading (start-up)'
  const busy = [...time].filter(([step]) => counted(step)).reduce((a, [, t]) => a + t, 0)
  const rows = [...time].sort((a, b) => b[1] - a[1])
  console.log(`| step | ms | share of busy |${cpuUs === undefined ? '' : ' µs/req |'}`)
  console.log(`|:--|--:|--:|${cpuUs === undefined ? '' : '--:|'}`)
  for (const [step, us] of rows) {
    const share = counted(step) ? us / busy : undefined
    const perRequest =
      cpuUs === undefined ? '' : ` ${share === undefined ? '' : (share * cpuUs).toFixed(0)} |`
    console.log(
      `| ${step} | ${(us / 1000).toFixed(0)} | ${share === undefined ? '' : `${(share * 100).toFixed(1)} %`} |${perRequest}`,
    )
  }
}

main(process.argv.slice(2))
