/**
 * A least-recently-used cache bounded in bytes. Used for exercise files, whose content behind a name never
 * changes (docs/protocol.md §4), so an entry never needs invalidating. Only values are cached, never absence.
 */
export class ByteLru<V extends { byteLength: number }> {
  private readonly entries = new Map<string, V>();
  private used = 0;

  constructor(
    /** Total bytes kept; 0 turns the cache off. */
    readonly maxBytes: number,
    /** Larger values are not kept at all (they would evict everything else for one file). */
    readonly maxEntryBytes: number,
  ) {}

  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    // Map keeps insertion order: re-inserting makes this the most recently used entry.
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: string, value: V): void {
    if (value.byteLength > this.maxEntryBytes || value.byteLength > this.maxBytes) return;
    const previous = this.entries.get(key);
    if (previous !== undefined) {
      this.entries.delete(key);
      this.used -= previous.byteLength;
    }
    this.entries.set(key, value);
    this.used += value.byteLength;
    for (const [oldest, evicted] of this.entries) {
      if (this.used <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.used -= evicted.byteLength;
    }
  }
}
