/**
 * A plain object keyed by names a client chose (field names, file paths, header and query names), for JSON answers
 * and Lambda events. It has no prototype, so `__proto__`, `constructor` or `toString` are keys like any other: on an
 * object literal they would read as Object.prototype's members, and assigning `__proto__` would replace the
 * prototype instead of adding a key (docs/protocol.md, "Bounds and bad input"). Lookups by a client's name that need
 * no JSON use a `Map`.
 */
export function dictionary<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}
