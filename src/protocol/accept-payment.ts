/**
 * The `Accept-Payment` request header (protocol.md §1.5): which payment methods and intents a
 * client takes, and how much it prefers each, e.g. `tempo/session, tempo/*;q=0.5, stripe/charge;q=0`.
 *
 * Rules, for a list of offers in the server's order:
 *  - each offer is judged by the most specific range that matches it: one naming both method and
 *    intent beats one with a single wildcard, which beats the double wildcard; among equally
 *    specific ranges the highest q counts (as mppx 0.11 ranks them);
 *  - an offer no range matches, or whose range has q = 0, is not acceptable;
 *  - acceptable offers are ordered by q, highest first; equal q keeps the server's order;
 *  - no header at all accepts every offer in the server's order, and so does a malformed one
 *    (the spec lets a server ignore it): a client that cannot state its preferences is not
 *    refused for trying.
 *
 * q-values are HTTP qvalues (`0` to `1`, at most three decimals), kept as integer thousandths so
 * no comparison goes through a float. Pure functions; nothing here knows the gate or HTTP.
 */

/** One range of a parsed header: a method and an intent (either may be `*`), and its weight. */
export type PaymentRange = {
  readonly method: string
  readonly intent: string
  /** The q-value in thousandths: 0 (refused) to 1000 (preferred, the default). */
  readonly q: number
}

/** What a range is matched against: an offer's method and intent. */
export type PaymentKind = { readonly method: string; readonly intent: string }

const methodToken = /^(?:\*|[a-z][a-z0-9:_-]*)$/
const intentToken = /^(?:\*|[a-z0-9-]+)$/
const qvalue = /^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$/
const parameter = /^([A-Za-z0-9_-]+)\s*=\s*(\S+)$/

/**
 * The ranges of an `Accept-Payment` value, in the order written; `undefined` when there is no
 * header or it is malformed (then every offer is acceptable). Names compare case-insensitively.
 */
export function parseAcceptPayment(value: string | undefined): PaymentRange[] | undefined {
  if (value === undefined) return undefined
  const items = value.split(',').map((item) => item.trim())
  if (items.every((item) => item === '')) return undefined
  const ranges: PaymentRange[] = []
  for (const item of items) {
    if (item === '') continue
    const range = parseRange(item)
    if (range === undefined) return undefined
    ranges.push(range)
  }
  return ranges
}

function parseRange(item: string): PaymentRange | undefined {
  const [kind = '', ...parameters] = item.split(';').map((part) => part.trim())
  const slash = kind.indexOf('/')
  if (slash < 0) return undefined
  const method = kind.slice(0, slash).trim().toLowerCase()
  const intent = kind
    .slice(slash + 1)
    .trim()
    .toLowerCase()
  if (!methodToken.test(method) || !intentToken.test(intent)) return undefined
  let q = 1000
  for (const text of parameters) {
    const match = parameter.exec(text)
    if (!match) return undefined
    if (match[1]!.toLowerCase() !== 'q') continue
    const value = match[2]!
    if (!qvalue.test(value)) return undefined
    q = thousandths(value)
  }
  return { method, intent, q }
}

/** A qvalue such as `0.25` in thousandths (250), exactly. */
function thousandths(value: string): number {
  const [whole = '0', fraction = ''] = value.split('.')
  return Number(whole) * 1000 + Number(fraction.padEnd(3, '0'))
}

/**
 * The offers a client accepts, most preferred first (see the module header). With `ranges`
 * undefined (no header, or a malformed one) every offer is acceptable, in the server's order.
 */
export function acceptedOffers<T extends PaymentKind>(
  offers: readonly T[],
  ranges: readonly PaymentRange[] | undefined,
): T[] {
  if (ranges === undefined) return [...offers]
  const weighted: { offer: T; q: number; index: number }[] = []
  offers.forEach((offer, index) => {
    const q = weightOf(offer, ranges)
    if (q !== undefined && q > 0) weighted.push({ offer, q, index })
  })
  weighted.sort((a, b) => b.q - a.q || a.index - b.index)
  return weighted.map((entry) => entry.offer)
}

/** The q of the most specific range matching `kind` (highest q among equals), if any matches. */
function weightOf(kind: PaymentKind, ranges: readonly PaymentRange[]): number | undefined {
  const method = kind.method.toLowerCase()
  const intent = kind.intent.toLowerCase()
  let best: { specificity: number; q: number } | undefined
  for (const range of ranges) {
    const methodMatches = range.method === '*' || range.method === method
    const intentMatches = range.intent === '*' || range.intent === intent
    if (!methodMatches || !intentMatches) continue
    const specificity = (range.method === '*' ? 0 : 1) + (range.intent === '*' ? 0 : 1)
    if (
      best === undefined ||
      specificity > best.specificity ||
      (specificity === best.specificity && range.q > best.q)
    ) {
      best = { specificity, q: range.q }
    }
  }
  return best?.q
}
