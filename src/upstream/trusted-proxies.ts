/**
 * Which peers are proxies the operator put in front of the gateway (`server.trustedProxies`):
 * only their Forwarded, X-Forwarded-* and X-Real-IP headers reach the upstream (headers.ts).
 * Entries are addresses or CIDR networks, validated by the config loader; IPv4 peers seen as
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.7`) match IPv4 entries.
 */
import { BlockList, isIP } from 'node:net'

/** True when the peer address belongs to a trusted proxy; an unknown address never does. */
export type ProxyTrust = (address: string | undefined) => boolean

export function proxyTrust(entries: readonly string[]): ProxyTrust {
  if (entries.length === 0) return () => false
  const list = new BlockList()
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/')
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4'
    if (prefix === undefined) list.addAddress(address, family)
    else list.addSubnet(address, Number(prefix), family)
  }
  return (address) => {
    if (address === undefined) return false
    const family = isIP(address)
    return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4')
  }
}
