// A Map whose entries expire. Expired entries are invisible at once and reclaimed lazily or by
// one shared, incremental sweep (never a timer per key); `onExpire` hears of each one reclaimed
// (not of values replaced by set() or removed by delete()). A storage primitive of the memory
// backend, also used for the relay's in-process buckets (ratelimit/limiter.ts).

interface Entry<V> {
  value: V;
  expiresAt: number;
}

export class TtlMap<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private cursor: Iterator<[string, Entry<V>]> | undefined;

  constructor(
    private readonly now: () => number,
    private readonly onExpire?: (key: string, value: V) => void,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.reclaim(key, entry);
      return undefined;
    }
    return entry.value;
  }

  private reclaim(key: string, entry: Entry<V>): void {
    this.entries.delete(key);
    this.onExpire?.(key, entry.value);
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

  /** get(), and the entry (when there) now lives `ttlMs` from now: one lookup for both. */
  refresh(key: string, ttlMs: number): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    const now = this.now();
    if (entry.expiresAt <= now) {
      this.reclaim(key, entry);
      return undefined;
    }
    entry.expiresAt = now + ttlMs;
    return entry.value;
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

  /** Visits up to `budget` entries, resuming where the last sweep stopped: reclaims the expired
   *  ones and hands the others to `visit`. */
  sweep(budget: number, visit?: (value: V) => void): void {
    const now = this.now();
    for (let i = 0; i < budget; i++) {
      this.cursor ??= this.entries.entries();
      const next = this.cursor.next();
      if (next.done) {
        this.cursor = undefined;
        return;
      }
      const [key, entry] = next.value;
      if (entry.expiresAt <= now) this.reclaim(key, entry);
      else visit?.(entry.value);
    }
  }
}
