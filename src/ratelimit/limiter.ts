// Token buckets per client IP and per identity (PROTOCOL.md §3), with the jail ("temporary
// ignore"). The buckets live in the store (atomic there); jailed keys are also cached here so a
// flood from a jailed source never reaches the store.
import type { Config } from '../config.js';
import { StoreUnavailableError, rateLimited } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Logger } from '../log.js';
import {
  identityBucketKey,
  ipBucketKey,
  type BucketSpec,
  type IdentityBucket,
  type Store,
} from '../store/store.js';

export type IpBucket =
  | 'global'
  | 'challenge'
  | 'upload'
  | 'fetch'
  | 'random'
  | 'nick_register'
  | 'nick_lookup'
  | 'burn'
  | 'ws_frames'
  | 'ws_auth';

const JAIL_STRIKES = 6;
const SECOND = 1000;
const JAIL_CACHE_SWEEP_AT = 10_000;

export interface BucketSpecs {
  ip: Record<IpBucket, BucketSpec>;
  identity: Record<IdentityBucket, BucketSpec>;
}

export function bucketSpecs(config: Config): BucketSpecs {
  const jail = { strikes: JAIL_STRIKES, jailMs: config.jailSeconds * SECOND };
  const jailed = (capacity: number, windowS: number): BucketSpec => ({
    capacity,
    windowMs: windowS * SECOND,
    jail,
  });
  return {
    ip: {
      global: jailed(config.limitGlobal, 10),
      challenge: jailed(config.powLimit, 60),
      upload: jailed(config.limitKeysUpload, 60),
      fetch: jailed(config.limitKeysFetch, 60),
      random: jailed(config.limitKeysRandom, 60),
      nick_register: jailed(config.limitNickRegister, 60),
      nick_lookup: jailed(config.limitNickLookup, 60),
      burn: jailed(config.limitAccountBurn, 300),
      ws_frames: jailed(config.limitWsFrames, 10),
      ws_auth: jailed(config.limitWsAuth, 60),
    },
    identity: {
      msg_send: jailed(config.limitMsgSend, 10),
      // A recipient's bucket is never jailed: that would let anyone silence a user.
      msg_receive: { capacity: config.limitMsgReceive, windowMs: 10 * SECOND },
      ws_auth: jailed(config.limitWsAuthIdentity, 60),
    },
  };
}

export interface LimitOptions {
  /** Refuse (503) when the store cannot be asked: PoW-gated writes. Reads fail open. */
  failClosed: boolean;
  cost?: number;
}

export class RateLimiter {
  private readonly specs: BucketSpecs;
  private readonly jailCache = new Map<string, number>();

  constructor(
    config: Config,
    private readonly store: Store,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.specs = bucketSpecs(config);
  }

  /** Takes from a per-IP bucket; throws 429 `rate_limited` with the retry time when refused. */
  takeIp(ipKey: string, bucket: IpBucket, options: LimitOptions): Promise<void> {
    return this.take(ipBucketKey(ipKey, bucket), this.specs.ip[bucket], bucket, options);
  }

  /** Takes from a per-identity bucket (metric label `identity_<bucket>`). */
  takeIdentity(identityHash: string, bucket: IdentityBucket, options: LimitOptions): Promise<void> {
    const key = identityBucketKey(identityHash, bucket);
    return this.take(key, this.specs.identity[bucket], `identity_${bucket}`, options);
  }

  /** Forgets cached jails of an identity (after a burn its counters are gone). */
  forgetIdentity(identityHash: string): void {
    for (const key of this.jailCache.keys())
      if (key.includes(`{${identityHash}}`)) this.jailCache.delete(key);
  }

  private async take(
    key: string,
    spec: BucketSpec,
    bucket: string,
    options: LimitOptions,
  ): Promise<void> {
    const now = this.now();
    const jailedUntil = this.jailCache.get(key);
    if (jailedUntil !== undefined) {
      if (jailedUntil > now) {
        this.metrics.rateLimited.inc({ bucket });
        throw rateLimited(Math.ceil((jailedUntil - now) / SECOND));
      }
      this.jailCache.delete(key);
    }
    let result;
    try {
      result = await this.store.takeTokens(key, spec, options.cost ?? 1);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      this.metrics.storeErrors.inc();
      if (options.failClosed) throw err;
      this.logger.debug({ bucket }, 'rate limit skipped: store unavailable (fail open)');
      return;
    }
    if (result.allowed) return;
    this.metrics.rateLimited.inc({ bucket });
    if (result.jailed) {
      if (!this.jailCache.has(key)) this.metrics.jailed.inc({ bucket });
      if (this.jailCache.size >= JAIL_CACHE_SWEEP_AT) this.sweepJails(now);
      this.jailCache.set(
        key,
        result.jailedUntil > 0 ? result.jailedUntil : now + result.retryAfterMs,
      );
    }
    throw rateLimited(Math.max(1, Math.ceil(result.retryAfterMs / SECOND)));
  }

  private sweepJails(now: number): void {
    for (const [key, until] of this.jailCache) if (until <= now) this.jailCache.delete(key);
  }
}
