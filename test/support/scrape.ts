/**
 * Reading a Prometheus scrape in tests: the sample lines of the text exposition as
 * `name{labels}` → value (values kept as text, so base-unit amounts stay exact).
 */

/** The samples of an exposition text, by `name{labels}` exactly as written. */
export function samples(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    out.set(line.slice(0, at), line.slice(at + 1))
  }
  return out
}

/** GET `<url>/__gateway/metrics`, with `Authorization: Bearer <token>` when a token is given. */
export function scrape(url: string, token?: string): Promise<Response> {
  return fetch(
    `${url}/__gateway/metrics`,
    token ? { headers: { authorization: `Bearer ${token}` } } : {},
  )
}
