/**
 * Native addons the gateway can do without (libsecp256k1, keccak): each has a pure-JS fallback,
 * so a platform without a prebuilt binary runs slower, never fails. The binding entry points
 * (`secp256k1/bindings`, `keccak/bindings`) are required rather than the package roots, which
 * fall back silently to JS implementations of their own.
 */
import { createRequire } from 'node:module'

const requireNative = createRequire(import.meta.url)

/** The binding at `specifier`, or `undefined` when it does not load on this platform. */
export function optionalBinding<T>(specifier: string): T | undefined {
  try {
    return requireNative(specifier) as T
  } catch {
    return undefined
  }
}
