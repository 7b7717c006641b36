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
  | 'ws_frames';

const JAIL_STRIKES = 6;
const SECOND = 1000;
const JAIL_CACHE_SWEEP_AT = 10_000;

export function bucketSpecs(config: Config): Record<IpBucket | IdentityBucket, BucketSpec> {
  const jail = { strikes: JAIL_STRIKES, jailMs: config.jailSeconds * SECOND };
  const perIp = (capacity: number, windowS: number): BucketSpec => ({
    capacity,
    windowMs: windowS * SECOND,
    jail,
  });
  return {
    global: perIp(config.limitGlobal, 10),
    challenge: perIp(config.powLimit, 60),
    upload: perIp(config.limitKeysUpload, 60),
    fetch: perIp(config.limitKeysFetch, 60),
    random: perIp(config.limitKeysRandom, 60),
    nick_register: perIp(config.limitNickRegister, 60),
    nick_lookup: perIp(config.limitNickLookup, 60),
    burn: perIp(config.limitAccountBurn, 300),
    ws_frames: perIp(config.limitWsFrames, 10),
    msg_send: perIp(config.limitMsgSend, 10),
    // A recipient's bucket is never jailed: that would let anyone silence a user.
    msg_receive: { capacity: config.limitMsgReceive, windowMs: 10 * SECOND },
    ws_auth: perIp(config.powLimit, 60),
  };
}

export interface LimitOptions {
  /** Refuse (503) when the store cannot be asked: PoW-gated writes. Reads fail open. */
  failClosed: boolean;
  cost?: number;
}

export class RateLimiter {
  private readonly specs: Record<IpBucket | IdentityBucket, BucketSpec>;
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
    return this.take(ipBucketKey(ipKey, bucket), bucket, options);
  }

  takeIdentity(identityHash: string, bucket: IdentityBucket, options: LimitOptions): Promise<void> {
    return this.take(identityBucketKey(identityHash, bucket), bucket, options);
  }

  /** Forgets cached jails of an identity (after a burn its counters are gone). */
  forgetIdentity(identityHash: string): void {
    for (const key of this.jailCache.keys())
      if (key.includes(`{${identityHash}}`)) this.jailCache.delete(key);
  }

  private async take(
    key: string,
    bucket: IpBucket | IdentityBucket,
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
      result = await this.store.takeTokens(key, this.specs[bucket], options.cost ?? 1);
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
