/**
 * Deep immutability for the parsed configuration: parsed once at boot, then shared by every
 * component, so no component can change what another one sees.
 *
 * Invariant: `deepFreeze` freezes every plain object and array reachable from its argument, and
 * `DeepReadonly` says the same thing to the type checker.
 */

/** `T` with every property and element readonly, all the way down. */
export type DeepReadonly<T> = T extends
  bigint | boolean | number | string | symbol | null | undefined
  ? T
  : T extends readonly (infer Element)[]
    ? readonly DeepReadonly<Element>[]
    : { readonly [Key in keyof T]: DeepReadonly<T[Key]> }

/** Freezes `value` and everything reachable from it; returns the same value, typed readonly. */
export function deepFreeze<T>(value: T): DeepReadonly<T> {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value as DeepReadonly<T>
}
