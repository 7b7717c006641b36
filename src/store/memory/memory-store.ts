// The embedded default store: everything in this process's memory, TTLs honoured lazily on
// access and by one shared incremental sweep. Single process only (no cross-instance routing).
import { randomInt } from 'node:crypto';
import { StoreUnavailableError } from '../../errors.js';
import type {
  BucketSpec,
  ChannelHandler,
  EnqueueResult,
  NicknameRecord,
  QueueLimits,
  QueuedItem,
  Store,
  StoredBundle,
  TakeResult,
} from '../store.js';
import { IDENTITY_BUCKETS, identityBucketKey } from '../store.js';
import { bucketTtlMs, newBucket, takeFromBucket, type BucketState } from '../token-bucket.js';
import { TtlMap } from '../ttl-map.js';

interface BundleRecord {
  bundle: string;
  prekeys: string[];
  firstSeen: number;
}

interface QueueEntry extends QueuedItem {
  /** Payload bytes (UTF-8). */
  size: number;
  expiresAt: number;
}

interface QueueRecord {
  /** In enqueue order; the map entry expires with the newest. */
  items: QueueEntry[];
  bytes: number;
}

const SWEEP_INTERVAL_MS = 1000;
const SWEEP_BUDGET = 2000;

export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  private closed = false;
  private secret: string | undefined;
  private readonly spentSeeds: TtlMap<true>;
  private readonly salts: TtlMap<string>;
  private readonly buckets: TtlMap<BucketState>;
  private readonly bundles: TtlMap<BundleRecord>;
  private readonly nicknames: TtlMap<NicknameRecord>;
  private readonly nicknameOf: TtlMap<string>;
  private readonly sessions: TtlMap<Map<string, number>>;
  private readonly queues: TtlMap<QueueRecord>;
  private readonly maps: Array<{ sweep(budget: number): void }>;
  private readonly channels = new Map<string, ChannelHandler>();
  private sweeper: NodeJS.Timeout | undefined;
  /** Payload bytes of every offline queue, expired items not reclaimed yet included. */
  private queuedBytes = 0;

  /** `queueTotalBytes`: the budget of all offline queues together (`storage_full` beyond). */
  constructor(
    private readonly now: () => number = Date.now,
    private readonly queueTotalBytes = Number.POSITIVE_INFINITY,
  ) {
    this.spentSeeds = new TtlMap(now);
    this.salts = new TtlMap(now);
    this.buckets = new TtlMap(now);
    this.bundles = new TtlMap(now);
    this.nicknames = new TtlMap(now);
    this.nicknameOf = new TtlMap(now);
    this.sessions = new TtlMap(now);
    this.queues = new TtlMap(now, (_, queue) => (this.queuedBytes -= queue.bytes));
    this.maps = [
      this.spentSeeds,
      this.salts,
      this.buckets,
      this.bundles,
      this.nicknames,
      this.nicknameOf,
      this.sessions,
    ];
  }

  async connect(): Promise<void> {
    this.sweeper = setInterval(() => {
      for (const map of this.maps) map.sweep(SWEEP_BUDGET);
      this.queues.sweep(SWEEP_BUDGET, (queue) => this.dropExpired(queue));
    }, SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  async ready(): Promise<void> {
    this.check();
  }

  /** Payload bytes held by all offline queues (bounded by `queueTotalBytes`). */
  get offlineBytes(): number {
    return this.queuedBytes;
  }

  storageUse(): number | undefined {
    return Number.isFinite(this.queueTotalBytes)
      ? this.queuedBytes / this.queueTotalBytes
      : undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    this.channels.clear();
  }

  private check(): void {
    if (this.closed) throw new StoreUnavailableError();
  }

  async ping(): Promise<void> {
    this.check();
  }

  async sharedSecret(candidate: string): Promise<string> {
    this.check();
    this.secret ??= candidate;
    return this.secret;
  }

  async dailySalt(day: number, candidate: string, ttlMs: number): Promise<string> {
    this.check();
    const key = String(day);
    const salt = this.salts.get(key);
    if (salt !== undefined) return salt;
    this.salts.set(key, candidate, ttlMs);
    return candidate;
  }

  async spendSeed(seed: string, ttlMs: number): Promise<boolean> {
    this.check();
    if (this.spentSeeds.get(seed)) return false;
    this.spentSeeds.set(seed, true, ttlMs);
    return true;
  }

  async takeTokens(key: string, spec: BucketSpec, cost = 1): Promise<TakeResult> {
    return this.takeTokensNow(key, spec, cost);
  }

  takeTokensNow(key: string, spec: BucketSpec, cost = 1): TakeResult {
    this.check();
    const now = this.now();
    let state = this.buckets.get(key);
    if (state === undefined) state = newBucket(spec, now);
    const result = takeFromBucket(state, spec, cost, now);
    this.buckets.set(key, state, bucketTtlMs(spec));
    return result;
  }

  async takeRecipientTokens(
    identityHash: string,
    key: string,
    spec: BucketSpec,
    cost = 1,
  ): Promise<TakeResult | 'no_recipient'> {
    return this.takeRecipientTokensNow(identityHash, key, spec, cost);
  }

  takeRecipientTokensNow(
    identityHash: string,
    key: string,
    spec: BucketSpec,
    cost = 1,
  ): TakeResult | 'no_recipient' {
    this.check();
    if (!this.bundles.get(identityHash)) return 'no_recipient';
    return this.takeTokensNow(key, spec, cost);
  }

  async putBundle(
    identityHash: string,
    bundle: string,
    prekeys: string[],
    ttlMs: number,
  ): Promise<number> {
    this.check();
    const firstSeen = this.bundles.get(identityHash)?.firstSeen ?? this.now();
    this.bundles.set(identityHash, { bundle, prekeys: [...prekeys], firstSeen }, ttlMs);
    return prekeys.length;
  }

  async fetchBundle(identityHash: string): Promise<StoredBundle | null> {
    this.check();
    const record = this.bundles.get(identityHash);
    if (!record) return null;
    return { bundle: record.bundle, prekey: record.prekeys.shift() ?? null };
  }

  async bundleOf(identityHash: string): Promise<string | null> {
    this.check();
    return this.bundles.get(identityHash)?.bundle ?? null;
  }

  async prekeyCount(identityHash: string): Promise<number | null> {
    this.check();
    return this.bundles.get(identityHash)?.prekeys.length ?? null;
  }

  async firstSeen(identityHash: string): Promise<number | null> {
    this.check();
    return this.bundles.get(identityHash)?.firstSeen ?? null;
  }

  async randomIdentities(count: number): Promise<string[]> {
    this.check();
    // Reservoir sampling: uniform over live bundles, one pass, no copy of the key set.
    const chosen: string[] = [];
    let seen = 0;
    for (const key of this.bundles.keys()) {
      seen += 1;
      if (chosen.length < count) chosen.push(key);
      else {
        const j = randomInt(seen);
        if (j < count) chosen[j] = key;
      }
    }
    return chosen;
  }

  async registerNickname(
    identityHash: string,
    nicknameKey: string,
    nickname: string,
    ttlMs: number,
  ): Promise<'ok' | 'taken'> {
    this.check();
    const holder = this.nicknames.get(nicknameKey);
    if (holder && holder.identityHash !== identityHash) return 'taken';
    const previous = this.nicknameOf.get(identityHash);
    if (previous !== undefined && previous !== nicknameKey) this.nicknames.delete(previous);
    this.nicknames.set(nicknameKey, { identityHash, nickname }, ttlMs);
    this.nicknameOf.set(identityHash, nicknameKey, ttlMs);
    return 'ok';
  }

  async lookupNickname(nicknameKey: string): Promise<NicknameRecord | null> {
    this.check();
    return this.nicknames.get(nicknameKey) ?? null;
  }

  async addSessionToken(
    identityHash: string,
    tokenHash: string,
    ttlMs: number,
    maxTokens: number,
  ): Promise<void> {
    this.check();
    const now = this.now();
    // Insertion order is issue order: the first entries are the oldest tokens.
    const tokens = this.sessions.get(identityHash) ?? new Map<string, number>();
    tokens.delete(tokenHash);
    let longest = now + ttlMs;
    for (const [hash, expiresAt] of tokens) {
      if (expiresAt <= now || tokens.size >= maxTokens) tokens.delete(hash);
      else longest = Math.max(longest, expiresAt);
    }
    tokens.set(tokenHash, now + ttlMs);
    this.sessions.set(identityHash, tokens, longest - now);
  }

  async hasSessionToken(identityHash: string, tokenHash: string): Promise<boolean> {
    this.check();
    const expiresAt = this.sessions.get(identityHash)?.get(tokenHash);
    return expiresAt !== undefined && expiresAt > this.now();
  }

  async enqueue(
    identityHash: string,
    item: QueuedItem,
    limits: QueueLimits,
  ): Promise<EnqueueResult> {
    this.check();
    if (limits.requireBundle && !this.bundles.get(identityHash)) return 'no_recipient';
    const queue = this.queues.get(identityHash) ?? { items: [], bytes: 0 };
    this.dropExpired(queue);
    const size = Buffer.byteLength(item.payload);
    if (queue.items.length + 1 > limits.maxCount || queue.bytes + size > limits.maxBytes)
      return 'mailbox_full';
    if (this.queuedBytes + size > this.queueTotalBytes) return 'storage_full';
    const expiresAt = this.now() + limits.ttlMs;
    queue.items.push({ id: item.id, payload: item.payload, size, expiresAt });
    queue.bytes += size;
    this.queuedBytes += size;
    this.queues.set(identityHash, queue, Math.max(this.queues.ttl(identityHash), limits.ttlMs));
    return 'queued';
  }

  async queued(identityHash: string): Promise<QueuedItem[]> {
    this.check();
    const now = this.now();
    return (this.queues.get(identityHash)?.items ?? [])
      .filter((i) => i.expiresAt > now)
      .map((i) => ({ id: i.id, payload: i.payload }));
  }

  async removeQueued(identityHash: string, ids: string[]): Promise<number> {
    this.check();
    const queue = this.queues.get(identityHash);
    if (!queue) return 0;
    const now = this.now();
    const remove = new Set(ids);
    let removed = 0;
    const kept = queue.items.filter((i) => {
      if (i.expiresAt <= now) return false;
      if (remove.has(i.id)) removed += 1;
      return !remove.has(i.id);
    });
    this.replaceItems(queue, kept);
    if (kept.length === 0) this.queues.delete(identityHash);
    else {
      const newest = Math.max(...kept.map((i) => i.expiresAt));
      this.queues.set(identityHash, queue, newest - now);
    }
    return removed;
  }

  /** Reclaims the expired items at the head of a queue (items are appended in time order). */
  private dropExpired(queue: QueueRecord): void {
    const now = this.now();
    let expired = 0;
    while (expired < queue.items.length && queue.items[expired]!.expiresAt <= now) expired += 1;
    if (expired > 0) this.replaceItems(queue, queue.items.slice(expired));
  }

  private replaceItems(queue: QueueRecord, items: QueueEntry[]): void {
    const bytes = items.reduce((sum, i) => sum + i.size, 0);
    this.queuedBytes += bytes - queue.bytes;
    queue.items = items;
    queue.bytes = bytes;
  }

  async burnIdentity(identityHash: string): Promise<void> {
    this.check();
    this.bundles.delete(identityHash);
    const queue = this.queues.get(identityHash);
    if (queue) this.replaceItems(queue, []);
    this.queues.delete(identityHash);
    this.sessions.delete(identityHash);
    for (const name of IDENTITY_BUCKETS) this.buckets.delete(identityBucketKey(identityHash, name));
    const nicknameKey = this.nicknameOf.get(identityHash);
    this.nicknameOf.delete(identityHash);
    if (
      nicknameKey !== undefined &&
      this.nicknames.get(nicknameKey)?.identityHash === identityHash
    ) {
      this.nicknames.delete(nicknameKey);
    }
  }

  async publish(identityHash: string, message: string): Promise<number> {
    this.check();
    const handler = this.channels.get(identityHash);
    if (!handler) return 0;
    queueMicrotask(() => handler(message));
    return 1;
  }

  async subscribe(identityHash: string, handler: ChannelHandler): Promise<void> {
    this.check();
    this.channels.set(identityHash, handler);
  }

  async unsubscribe(identityHash: string): Promise<void> {
    this.channels.delete(identityHash);
  }
}
