// The storage interface. Two backends implement it and pass one conformance suite
// (test/store-conformance.test.ts): memory/ (the embedded default, one process) and redis/
// (what scales out). Backends never import the domain; they store opaque strings.
//
// Every method throws StoreUnavailableError (src/errors.ts) when the store cannot be reached.

export type StoreKind = 'memory' | 'redis';

/** A token bucket: `capacity` tokens, refilled steadily so an empty bucket is full after `windowMs`. */
export interface BucketSpec {
  capacity: number;
  windowMs: number;
  /**
   * Jail ("temporary ignore", docs/protocol.md §3): the `strikes`-th refusal within two windows jails the
   * bucket for `jailMs`. Omitted: never jailed (recipient buckets).
   */
  jail?: { strikes: number; jailMs: number };
}

export interface TakeResult {
  allowed: boolean;
  /** When refused: ms until a retry can succeed (remaining jail time when jailed). */
  retryAfterMs: number;
  /** True when the bucket is (now) jailed; `jailedUntil` is then an absolute ms timestamp. */
  jailed: boolean;
  jailedUntil: number;
}

export interface StoredBundle {
  /** The identity part of the bundle, as the domain serialised it (opaque here). */
  bundle: string;
  /** The one-time prekey consumed by this fetch, or null when none were left. */
  prekey: string | null;
}

export interface NicknameRecord {
  identityHash: string;
  /** The nickname as registered (case preserved). */
  nickname: string;
}

export interface QueuedItem {
  /** Stable id, unique per recipient. */
  id: string;
  /** The frame that would have been delivered live (JSON text). */
  payload: string;
}

export interface QueueLimits {
  maxCount: number;
  maxBytes: number;
  /** Each item expires this long after its own enqueue. */
  ttlMs: number;
  /** Refuse (`no_recipient`) unless the recipient has a live key bundle. */
  requireBundle: boolean;
}

/**
 * `no_recipient`: a bundle is required and the recipient has none. `mailbox_full`: the
 * recipient's count or byte cap (nothing queued is ever dropped to make room). `storage_full`:
 * the global budget of offline storage is reached. Nothing is stored unless `queued`.
 */
export type EnqueueResult = 'queued' | 'mailbox_full' | 'no_recipient' | 'storage_full';

export type ChannelHandler = (message: string) => void;

export interface Store {
  readonly kind: StoreKind;

  /** Starts connecting and returns at once; see ready(). */
  connect(): Promise<void>;
  /** Resolves once the store can be used (Redis: first connection up and its start-up checks
   *  passed; operations throw StoreUnavailableError until then). Rejects when the store refuses
   *  to run (e.g. a persistent Redis while a volatile one is required) or is closed first. */
  ready(): Promise<void>;
  /** Releases every resource; further calls fail. */
  close(): Promise<void>;
  /** Resolves when the store answers, throws StoreUnavailableError otherwise. */
  ping(): Promise<void>;
  /** The share (0..1) of the offline storage budget in use, for the metrics: memory store, its
   *  queued bytes over ENTROPY_QUEUE_TOTAL_BYTES; Redis, the fullest master's used_memory over
   *  its maxmemory at the last poll. Undefined while unknown or unbounded. */
  storageUse?(): number | undefined;

  /** Returns the secret shared by every instance: `candidate` if none was set yet. */
  sharedSecret(candidate: string): Promise<string>;

  /** Returns the salt of UTC day `day` (days since the epoch) shared by every instance:
   *  `candidate` if none was set yet. It expires `ttlMs` after the first call (later calls do not
   *  extend it). */
  dailySalt(day: number, candidate: string, ttlMs: number): Promise<string>;

  /** Marks a PoW seed spent. True on first use, false when it was already spent (replay). */
  spendSeed(seed: string, ttlMs: number): Promise<boolean>;

  /** Takes `cost` tokens from bucket `key` (identity buckets contain `{H}`). */
  takeTokens(key: string, spec: BucketSpec, cost?: number): Promise<TakeResult>;
  /** takeTokens on a recipient's bucket, only if the recipient has a key bundle (checked
   *  atomically with the take): otherwise `no_recipient`, and nothing is written. */
  takeRecipientTokens(
    identityHash: string,
    key: string,
    spec: BucketSpec,
    cost?: number,
  ): Promise<TakeResult | 'no_recipient'>;

  /** takeTokens, synchronously: only a store in this process (memory) has it, so the relay's hot
   *  path makes no promise per message for it. */
  takeTokensNow?(key: string, spec: BucketSpec, cost?: number): TakeResult;
  /** takeRecipientTokens, synchronously (see takeTokensNow). */
  takeRecipientTokensNow?(
    identityHash: string,
    key: string,
    spec: BucketSpec,
    cost?: number,
  ): TakeResult | 'no_recipient';

  /** Stores a bundle, replacing the identity part and the whole one-time prekey set.
   *  Records first-seen time (if absent) and adds the identity to the random pool.
   *  Returns the number of prekeys stored. */
  putBundle(
    identityHash: string,
    bundle: string,
    prekeys: string[],
    ttlMs: number,
  ): Promise<number>;
  /** The bundle with one one-time prekey consumed atomically, or null when none is stored. */
  fetchBundle(identityHash: string): Promise<StoredBundle | null>;
  /** The stored identity part of the bundle, without consuming a prekey. */
  bundleOf(identityHash: string): Promise<string | null>;
  /** Number of one-time prekeys left, or null when no bundle is stored. */
  prekeyCount(identityHash: string): Promise<number | null>;
  /** First-seen time (ms since epoch) of an identity with a stored bundle. */
  firstSeen(identityHash: string): Promise<number | null>;
  /** Up to `count` distinct identity hashes with a live bundle, uniformly at random. */
  randomIdentities(count: number): Promise<string[]>;

  /** Claims `nickname` (lookup key `nicknameKey`, lower case) for the identity, releasing the
   *  identity's previous nickname. 'taken' when another identity holds it. */
  registerNickname(
    identityHash: string,
    nicknameKey: string,
    nickname: string,
    ttlMs: number,
  ): Promise<'ok' | 'taken'>;
  lookupNickname(nicknameKey: string): Promise<NicknameRecord | null>;

  /** Session tokens, stored only as hashes by the caller. Adds one valid for `ttlMs`, keeping at
   *  most `maxTokens` live tokens for the identity: the oldest are revoked, never the new one. */
  addSessionToken(
    identityHash: string,
    tokenHash: string,
    ttlMs: number,
    maxTokens: number,
  ): Promise<void>;
  /** Whether the token is live; constant time in the number of tokens (no scan). */
  hasSessionToken(identityHash: string, tokenHash: string): Promise<boolean>;

  /** Appends to the offline queue, unless refused (see EnqueueResult). Expired items count
   *  against no cap. */
  enqueue(identityHash: string, item: QueuedItem, limits: QueueLimits): Promise<EnqueueResult>;
  /** The items not expired yet, in order, oldest first. */
  queued(identityHash: string): Promise<QueuedItem[]>;
  /** Removes the items with these ids, and expired ones; returns how many live items were
   *  removed by id. */
  removeQueued(identityHash: string, ids: string[]): Promise<number>;

  /** Deletes every trace of the identity: bundle, prekeys, offline queue, session tokens,
   *  its rate-limit buckets (keys containing `{H}`), nickname both ways, first-seen, pool entry. */
  burnIdentity(identityHash: string): Promise<void>;

  /** Publishes on the identity's channel; resolves to the number of receiving subscribers. */
  publish(identityHash: string, message: string): Promise<number>;
  /** Subscribes to the identity's channel (one handler per identity per store instance). */
  subscribe(identityHash: string, handler: ChannelHandler): Promise<void>;
  unsubscribe(identityHash: string): Promise<void>;
  /** Called after the store re-established its subscriptions (notifications may have been
   *  missed meanwhile). The memory store never loses them and never calls it. */
  onResubscribed?(listener: () => void): void;
}

/** Names of the per-identity token buckets; their keys are `rl:{H}:<name>` (see bucketKey). */
export const IDENTITY_BUCKETS = ['msg_send', 'msg_receive', 'ws_auth'] as const;
export type IdentityBucket = (typeof IDENTITY_BUCKETS)[number];

export function identityBucketKey(identityHash: string, name: IdentityBucket): string {
  return `rl:{${identityHash}}:${name}`;
}

export function ipBucketKey(ipKey: string, name: string): string {
  return `rl:ip:${name}:${ipKey}`;
}
