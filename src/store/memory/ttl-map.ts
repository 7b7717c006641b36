// A Map whose entries expire. Expired entries are invisible at once and reclaimed by one shared,
// incremental sweep (never a timer per key).

interface Entry<V> {
  value: V;
  expiresAt: number;
}

export class TtlMap<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private cursor: Iterator<[string, Entry<V>]> | undefined;

  constructor(private readonly now: () => number) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Remaining life in ms, or 0 when absent. */
  ttl(key: string): number {
    const entry = this.entries.get(key);
    return entry ? Math.max(0, entry.expiresAt - this.now()) : 0;
  }

  set(key: string, value: V, ttlMs: number): void {
    const entry = this.entries.get(key);
    if (entry) {
      entry.value = value;
      entry.expiresAt = this.now() + ttlMs;
    } else this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
  }

  /** Extends (or shortens) the life of an existing entry. */
  expire(key: string, ttlMs: number): void {
    const entry = this.entries.get(key);
    if (entry) entry.expiresAt = this.now() + ttlMs;
  }

  delete(key: string): boolean {
    return this.entries.delete(key);
  }

  *keys(): IterableIterator<string> {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt > now) yield key;
  }

  /** Reclaims up to `budget` expired entries, resuming where the last sweep stopped. */
  sweep(budget: number): void {
    const now = this.now();
    for (let i = 0; i < budget; i++) {
      this.cursor ??= this.entries.entries();
      const next = this.cursor.next();
      if (next.done) {
        this.cursor = undefined;
        return;
      }
      const [key, entry] = next.value;
      if (entry.expiresAt <= now) this.entries.delete(key);
    }
  }
}
