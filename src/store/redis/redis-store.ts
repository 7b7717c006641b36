// The Redis backend (single Redis or Redis Cluster): what lets several relay instances share
// state. Same semantics as the memory backend; the conformance suite holds both to them.
// Every operation on an identity is one script on its {H} slot; nicknames and the random pool
// live in other slots and are updated in a second, idempotent step (one code path for a single
// Redis and a Cluster). connect() returns at once: the store is usable once Redis first answers
// and passes the start-up checks (persistence, eviction policy).
import { Cluster, ReplyError } from 'ioredis';
import { StoreUnavailableError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { withTimeout } from '../../time.js';
import { bucketTtlMs } from '../token-bucket.js';
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
import { Channels } from './channels.js';
import {
  closeClient,
  createClient,
  errorMessage,
  reviveOnEnd,
  untilReady,
  watchConnection,
  type RedisClient,
  type SentinelEndpoint,
} from './connection.js';
import {
  POOL_KEY,
  channelOf,
  dailySaltKey,
  identityKeys,
  nicknameKey,
  spentSeedKey,
} from './keys.js';
import { HighWaterMark } from './memory-watch.js';
import { Replication } from './replication.js';
import { defineScripts, runScript, type ScriptName } from './scripts.js';
import { SharedSecret } from './shared-secret.js';
import { checkRedisServer } from './startup-checks.js';

export interface RedisStoreOptions {
  /** redis://, rediss:// or tcp:// (= redis://). */
  url?: string;
  /** Seed nodes of a Redis Cluster ("host:port"); used instead of `url`. */
  cluster?: string[];
  /** The master named by these Sentinels; used instead of `url`. */
  sentinels?: SentinelEndpoint;
  /** Replicas that must acknowledge (WAIT) a write before it is confirmed (default 0). */
  waitReplicas?: number;
  /** How long WAIT waits for them (default 1000 ms). */
  waitTimeoutMs?: number;
  /** Refuse to run when the Redis server has RDB or AOF persistence on, or may evict keys. */
  requireVolatile: boolean;
  /** Refuse offline messages from this use of maxmemory on (percent; default 90). */
  queueHighWater?: number;
  logger: Logger;
}

const PING_TIMEOUT_MS = 1000;

/** Redis wants whole, positive milliseconds. */
const ms = (value: number): number => Math.max(1, Math.ceil(value));

/** Redis out of memory (maxmemory reached, noeviction): "OOM command not allowed…". */
const outOfMemory = (err: unknown): boolean =>
  err instanceof ReplyError && (err as Error).message.startsWith('OOM');

/** ARGV of the token-bucket scripts (takeTokens-1.lua). */
const bucketArgs = (spec: BucketSpec, cost: number): number[] => [
  spec.capacity,
  spec.windowMs,
  cost,
  spec.jail?.strikes ?? 0,
  spec.jail?.jailMs ?? 0,
  ms(bucketTtlMs(spec)),
];

const takeResult = ([allowed, retryAfterMs, jailed, jailedUntil]: number[]): TakeResult => ({
  allowed: allowed === 1,
  retryAfterMs: retryAfterMs ?? 0,
  jailed: jailed === 1,
  jailedUntil: jailedUntil ?? 0,
});

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  private readonly client: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly logger: Logger;
  private readonly channels: Channels;
  private readonly secret: SharedSecret;
  private readonly highWater: HighWaterMark;
  private readonly replication: Replication;
  private started: Promise<void> | undefined;
  /** Connected once and the start-up checks passed: operations may run. */
  private usable = false;
  private closed = false;

  constructor(private readonly options: RedisStoreOptions) {
    this.logger = options.logger;
    this.client = createClient(options, false);
    this.subscriber = createClient(options, true);
    defineScripts(this.client);
    this.highWater = new HighWaterMark(this.client, options.queueHighWater ?? 90);
    this.secret = new SharedSecret(this.client, this.logger);
    const replicas = options.waitReplicas ?? 0;
    const waitMs = options.waitTimeoutMs ?? 1000;
    this.replication = new Replication(options, this.client, replicas, waitMs, this.logger);
    watchConnection(this.client, 'command', this.logger);
    watchConnection(this.subscriber, 'subscriber', this.logger);
    for (const client of new Set([this.client, this.subscriber, this.replication.client]))
      reviveOnEnd(client, () => this.closed, this.logger);
    this.client.on('ready', () => {
      this.logger.info('Redis connected');
      void this.secret.refresh();
    });
    const sharded = this.client instanceof Cluster;
    this.channels = new Channels(this.client, this.subscriber, sharded, this.logger);
  }

  async connect(): Promise<void> {
    if (this.closed) throw new StoreUnavailableError();
    if (this.started) return;
    // Failed attempts are logged by watchConnection; ioredis keeps retrying (reconnectDelay).
    this.client.connect().catch(() => undefined);
    this.subscriber.connect().catch(() => undefined);
    this.replication.connect();
    this.started = this.start();
    this.started.catch(() => undefined); // ready() hands the failure to whoever asks
  }

  ready(): Promise<void> {
    return this.started ?? Promise.reject(new Error('RedisStore.ready() before connect()'));
  }

  private async start(): Promise<void> {
    try {
      await Promise.all([
        untilReady(this.client),
        untilReady(this.subscriber),
        this.replication.ready(),
      ]);
      await checkRedisServer(this.client, this.options.requireVolatile, this.logger);
      if (this.closed) throw new StoreUnavailableError();
    } catch (err) {
      await this.close();
      throw err;
    }
    this.usable = true;
    this.highWater.start();
    this.secret.start();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.usable = false;
    this.secret.stop();
    this.highWater.stop();
    this.channels.close();
    await Promise.all([
      closeClient(this.client),
      closeClient(this.subscriber),
      this.replication.close(),
    ]);
  }

  async ping(): Promise<void> {
    await this.run(() =>
      withTimeout(this.client.ping(), PING_TIMEOUT_MS, () => {
        throw new Error('Redis PING timed out');
      }),
    );
  }

  storageUse(): number | undefined {
    return this.highWater.use;
  }

  /** Every ioredis failure becomes StoreUnavailableError (503 `storage_unavailable`). */
  private async run<T>(operation: () => Promise<T>): Promise<T> {
    if (!this.usable) throw new StoreUnavailableError();
    try {
      return await operation();
    } catch (err) {
      // While connected a failure is unexpected (a script error, OOM…): worth a log line.
      if (this.client.status === 'ready') {
        this.logger.warn({ err: errorMessage(err) }, 'Redis command failed');
      }
      throw new StoreUnavailableError(err);
    }
  }

  /** `durable`: on the connection of writes that wait for replicas (Replication.confirm). */
  private script<T>(
    name: ScriptName,
    keys: string[],
    args: (string | number)[] = [],
    durable = false,
  ): Promise<T> {
    return runScript<T>(durable ? this.replication.client : this.client, name, keys, args);
  }

  async sharedSecret(candidate: string): Promise<string> {
    return this.run(() => this.secret.take(candidate));
  }

  async dailySalt(day: number, candidate: string, ttlMs: number): Promise<string> {
    return this.run(async () => {
      // SET NX GET: the salt already set (whichever instance came first), or ours, now set.
      const set = await this.client.set(dailySaltKey(day), candidate, 'PX', ms(ttlMs), 'NX', 'GET');
      return set ?? candidate;
    });
  }

  async spendSeed(seed: string, ttlMs: number): Promise<boolean> {
    return this.run(async () => {
      return (await this.client.set(spentSeedKey(seed), '1', 'PX', ms(ttlMs), 'NX')) === 'OK';
    });
  }

  async takeTokens(key: string, spec: BucketSpec, cost = 1): Promise<TakeResult> {
    return this.run(async () =>
      takeResult(await this.script<number[]>('takeTokens', [key], bucketArgs(spec, cost))),
    );
  }

  async takeRecipientTokens(
    identityHash: string,
    key: string,
    spec: BucketSpec,
    cost = 1,
  ): Promise<TakeResult | 'no_recipient'> {
    return this.run(async () => {
      const keys = [key, identityKeys(identityHash).bundle];
      const reply = await this.script<number[] | 'no_recipient'>(
        'takeRecipientTokens',
        keys,
        bucketArgs(spec, cost),
      );
      return reply === 'no_recipient' ? reply : takeResult(reply);
    });
  }

  async putBundle(
    identityHash: string,
    bundle: string,
    prekeys: string[],
    ttlMs: number,
  ): Promise<number> {
    return this.run(async () => {
      const keys = identityKeys(identityHash);
      const [count, now] = await this.script<[number, number]>(
        'putBundle',
        [keys.bundle, keys.prekeys, keys.seen],
        [ms(ttlMs), bundle, ...prekeys],
        true,
      );
      await this.script('addToPool', [POOL_KEY], [identityHash, now + ms(ttlMs), ms(ttlMs)]);
      await this.replication.confirm(keys.bundle);
      return count;
    });
  }

  async fetchBundle(identityHash: string): Promise<StoredBundle | null> {
    return this.run(async () => {
      const keys = identityKeys(identityHash);
      const found = await this.script<[string, string | null] | null>('fetchBundle', [
        keys.bundle,
        keys.prekeys,
      ]);
      return found && { bundle: found[0], prekey: found[1] ?? null };
    });
  }

  async bundleOf(identityHash: string): Promise<string | null> {
    return this.run(() => this.client.get(identityKeys(identityHash).bundle));
  }

  async prekeyCount(identityHash: string): Promise<number | null> {
    return this.run(async () => {
      const keys = identityKeys(identityHash);
      return this.script<number | null>('prekeyCount', [keys.bundle, keys.prekeys]);
    });
  }

  async firstSeen(identityHash: string): Promise<number | null> {
    return this.run(async () => {
      const keys = identityKeys(identityHash);
      const seen = await this.script<string | null>('firstSeen', [keys.bundle, keys.seen]);
      return seen === null ? null : Number(seen);
    });
  }

  async randomIdentities(count: number): Promise<string[]> {
    if (count < 1) return [];
    return this.run(() =>
      this.script<string[]>('randomIdentities', [POOL_KEY], [Math.floor(count)]),
    );
  }

  async registerNickname(
    identityHash: string,
    lowercaseNickname: string,
    nickname: string,
    ttlMs: number,
  ): Promise<'ok' | 'taken'> {
    return this.run(async () => {
      const claimed = await this.script<number>(
        'claimNickname',
        [nicknameKey(lowercaseNickname)],
        [identityHash, nickname, ms(ttlMs)],
        true,
      );
      if (claimed === 0) return 'taken';
      await this.replication.confirm(nicknameKey(lowercaseNickname));
      const previous = await this.script<string | null>(
        'setNicknameOf',
        [identityKeys(identityHash).nickof],
        [lowercaseNickname, ms(ttlMs)],
      );
      if (previous !== null && previous !== lowercaseNickname) {
        await this.script('releaseNickname', [nicknameKey(previous)], [identityHash]);
      }
      return 'ok';
    });
  }

  async lookupNickname(lowercaseNickname: string): Promise<NicknameRecord | null> {
    return this.run(async () => {
      const [identityHash, nickname] = await this.client.hmget(
        nicknameKey(lowercaseNickname),
        'identity',
        'nickname',
      );
      return identityHash && nickname ? { identityHash, nickname } : null;
    });
  }

  async addSessionToken(
    identityHash: string,
    tokenHash: string,
    ttlMs: number,
    maxTokens: number,
  ): Promise<void> {
    await this.run(async () => {
      const key = identityKeys(identityHash).session;
      await this.script(
        'addSessionToken',
        [key],
        [tokenHash, ms(ttlMs), Math.max(1, Math.floor(maxTokens))],
        true,
      );
      await this.replication.confirm(key);
    });
  }

  async hasSessionToken(identityHash: string, tokenHash: string): Promise<boolean> {
    return this.run(async () => {
      const keys = [identityKeys(identityHash).session];
      return (await this.script<number>('hasSessionToken', keys, [tokenHash])) === 1;
    });
  }

  async enqueue(
    identityHash: string,
    item: QueuedItem,
    limits: QueueLimits,
  ): Promise<EnqueueResult> {
    return this.run(async () => {
      const keys = identityKeys(identityHash);
      const scriptKeys = [keys.offline, keys.offsize, keys.bundle];
      const args = [
        limits.maxCount,
        limits.maxBytes,
        ms(limits.ttlMs),
        limits.requireBundle ? 1 : 0,
        this.highWater.reached ? 1 : 0,
        item.id,
        item.payload,
      ];
      try {
        if (!this.replication.enabled) {
          return await this.script<EnqueueResult>('enqueue', scriptKeys, args);
        }
        const { reply, acked } = await this.replication.scriptThenWait<EnqueueResult>(
          'enqueue',
          scriptKeys,
          args,
        );
        if (reply === 'queued' && acked < this.replication.replicas) {
          // Not "queued" for the sender: take it back (best effort) and refuse.
          await this.script('removeQueued', [keys.offline, keys.offsize], [item.id], true).catch(
            () => undefined,
          );
          this.replication.check(acked);
        }
        return reply;
      } catch (err) {
        if (outOfMemory(err)) return 'storage_full';
        throw err;
      }
    });
  }

  async queued(identityHash: string): Promise<QueuedItem[]> {
    return this.run(async () => {
      const flat = await this.script<string[]>('queued', [identityKeys(identityHash).offline]);
      const items: QueuedItem[] = [];
      for (let i = 0; i < flat.length; i += 2) items.push({ id: flat[i]!, payload: flat[i + 1]! });
      return items;
    });
  }

  async removeQueued(identityHash: string, ids: string[]): Promise<number> {
    if (ids.length === 0) return this.run(async () => 0);
    return this.run(async () => {
      const keys = identityKeys(identityHash);
      return this.script<number>('removeQueued', [keys.offline, keys.offsize], ids);
    });
  }

  async burnIdentity(identityHash: string): Promise<void> {
    await this.run(async () => {
      const keys = identityKeys(identityHash);
      const nickname = await this.script<string | null>(
        'burnIdentity',
        [
          keys.nickof,
          keys.bundle,
          keys.prekeys,
          keys.offline,
          keys.offsize,
          keys.session,
          keys.seen,
          ...keys.buckets,
        ],
        [],
        true,
      );
      await Promise.all([
        nickname === null
          ? undefined
          : this.script('releaseNickname', [nicknameKey(nickname)], [identityHash]),
        this.client.zrem(POOL_KEY, identityHash),
      ]);
      await this.replication.confirm(keys.bundle);
    });
  }

  async publish(identityHash: string, message: string): Promise<number> {
    return this.run(() => this.channels.publish(channelOf(identityHash), message));
  }

  onResubscribed(listener: () => void): void {
    this.channels.onResubscribed(listener);
  }

  async subscribe(identityHash: string, handler: ChannelHandler): Promise<void> {
    await this.run(() => this.channels.subscribe(channelOf(identityHash), handler));
  }

  /** Never fails: during an outage the handler goes at once, the channel when Redis is back. */
  async unsubscribe(identityHash: string): Promise<void> {
    await this.channels.unsubscribe(channelOf(identityHash));
  }
}
