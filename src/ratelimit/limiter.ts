// Token buckets per client IP and per identity (docs/protocol.md §3), with the jail ("temporary
// ignore"). Two homes, chosen so that nothing at rest links a sender to a recipient (§7):
// * store buckets (shared by every instance): per-IP HTTP and WebSocket-auth buckets, keyed by a
//   keyed hash of the IP under a random salt of the day (ip-salt.ts; never the IP itself), and per-identity buckets (a recipient's
//   msg_receive, an identity's ws_auth);
// * local buckets, in this process, where the sender's socket lives: WebSocket frames per IP,
//   messages sent per identity and offline bytes queued per sender IP. They are checked
//   synchronously and never written to the store, so a Redis snapshot or MONITOR sees no sender
//   activity next to a recipient's.
// Jailed store keys are also cached here so a flood from a jailed source never reaches the store.
import type { Config } from '../config.js';
import { RelayError, rateLimited, rethrowUnlessUnavailable } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Logger } from '../log.js';
import {
  identityBucketKey,
  ipBucketKey,
  type BucketSpec,
  type IdentityBucket,
  type Store,
  type TakeResult,
} from '../store/store.js';
import { bucketTtlMs, newBucket, takeFromBucket, type BucketState } from '../store/token-bucket.js';
import { TtlMap } from '../store/ttl-map.js';
import type { IpSalt } from './ip-salt.js';
import { SECOND_MS } from '../time.js';

export type IpBucket =
  | 'global'
  | 'challenge'
  | 'upload'
  | 'fetch'
  | 'random'
  | 'nick_register'
  | 'nick_lookup'
  | 'burn'
  | 'ws_auth';

/** Per-identity buckets kept in the store. */
export type StoreIdentityBucket = Exclude<IdentityBucket, 'msg_send'>;

/** Buckets kept in this process: ws_frames and queue_bytes per IP, msg_send per identity. */
export type LocalBucket = 'ws_frames' | 'msg_send' | 'queue_bytes';

const JAIL_STRIKES = 6;
const JAIL_CACHE_SWEEP_AT = 10_000;
/** Local buckets: every SWEEP_EVERY takes, reclaim up to SWEEP_BUDGET expired ones. */
const SWEEP_EVERY = 256;
const SWEEP_BUDGET = 512;

export interface BucketSpecs {
  ip: Record<IpBucket, BucketSpec>;
  identity: Record<StoreIdentityBucket, BucketSpec>;
  local: Record<LocalBucket, BucketSpec>;
}

export function bucketSpecs(config: Config): BucketSpecs {
  const jail = { strikes: JAIL_STRIKES, jailMs: config.jailSeconds * SECOND_MS };
  const jailing = (capacity: number, windowS: number): BucketSpec => ({
    capacity,
    windowMs: windowS * SECOND_MS,
    jail,
  });
  return {
    ip: {
      global: jailing(config.limitGlobal, 10),
      challenge: jailing(config.powLimit, 60),
      upload: jailing(config.limitKeysUpload, 60),
      fetch: jailing(config.limitKeysFetch, 60),
      random: jailing(config.limitKeysRandom, 60),
      nick_register: jailing(config.limitNickRegister, 60),
      nick_lookup: jailing(config.limitNickLookup, 60),
      burn: jailing(config.limitAccountBurn, 300),
      ws_auth: jailing(config.limitWsAuth, 60),
    },
    identity: {
      // A recipient's bucket is never jailed: that would let anyone silence a user.
      msg_receive: { capacity: config.limitMsgReceive, windowMs: 10 * SECOND_MS },
      ws_auth: jailing(config.limitWsAuthIdentity, 60),
    },
    local: {
      ws_frames: jailing(config.limitWsFrames, 10),
      msg_send: jailing(config.limitMsgSend, 10),
      // Refused per message (the sender hears rate_limited), never jailed.
      queue_bytes: { capacity: config.limitQueueBytes, windowMs: 60 * SECOND_MS },
    },
  };
}

/**
 * A cost larger than the whole bucket can never be paid, however long one waits: refused for
 * good (400 `message_too_large`, no retry_after) rather than `rate_limited` with a retry time
 * that would be a lie. Checked before the bucket, which is left untouched (no strike either).
 */
function assertPayable(cost: number, spec: BucketSpec, bucket: string): void {
  if (cost <= spec.capacity) return;
  throw new RelayError(
    400,
    'message_too_large',
    `This costs ${cost} from the ${bucket} limit, which holds ${spec.capacity} per ` +
      `${spec.windowMs / SECOND_MS} s: it can never be accepted`,
  );
}

export interface LimitOptions {
  /** Refuse (503) when the store cannot be asked: PoW-gated writes. Reads fail open. */
  failClosed: boolean;
  cost?: number;
}

type Take = (key: string, spec: BucketSpec, cost: number) => Promise<TakeResult>;

export class RateLimiter {
  private readonly specs: BucketSpecs;
  private readonly jailCache = new Map<string, number>();
  /** Local buckets, one map per bucket, keyed by the IP limit key or identity hash as is (the
   *  caller's own string, so a lookup hashes nothing new). */
  private readonly local: Record<LocalBucket | 'msg_receive', TtlMap<BucketState>>;
  private localTakes = 0;

  constructor(
    config: Config,
    private readonly store: Store,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly ipSalt: Pick<IpSalt, 'tag'>,
    private readonly now: () => number = Date.now,
  ) {
    this.specs = bucketSpecs(config);
    this.local = {
      ws_frames: new TtlMap(now),
      msg_send: new TtlMap(now),
      queue_bytes: new TtlMap(now),
      msg_receive: new TtlMap(now),
    };
  }

  /** Takes from a per-IP store bucket; throws 429 `rate_limited` with the retry time when refused. */
  takeIp(ipKey: string, bucket: IpBucket, options: LimitOptions): Promise<void> {
    const key = () => {
      const tag = this.ipSalt.tag(ipKey);
      return typeof tag === 'string'
        ? ipBucketKey(tag, bucket)
        : tag.then((t) => ipBucketKey(t, bucket));
    };
    return this.take(key, this.specs.ip[bucket], bucket, options);
  }

  /** Takes from a per-identity store bucket (metric label `identity_<bucket>`). */
  takeIdentity(
    identityHash: string,
    bucket: StoreIdentityBucket,
    options: LimitOptions,
  ): Promise<void> {
    const key = () => identityBucketKey(identityHash, bucket);
    return this.take(key, this.specs.identity[bucket], `identity_${bucket}`, options);
  }

  /**
   * Takes a token from the recipient's `msg_receive` bucket (reads fail open). With
   * `requireBundle` (a recipient only its offline queue can reach, in default mode) an identity
   * with no key bundle is refused — false — and no bucket is created for it, so relays to hashes
   * nobody registered leave nothing in the store. Throws 429 `rate_limited` when the bucket refuses.
   */
  takeRecipient(identityHash: string, requireBundle: boolean): Promise<boolean> {
    return this.takeStoreRecipient(identityHash, requireBundle);
  }

  /**
   * takeRecipient() for the hot path: synchronous (no promise) when the bucket is in this
   * process. That is the case with a store in this process (memory), and for a recipient whose
   * session is here (`local`): its bucket is then kept here, not in the store, so a message
   * between two sessions of this instance costs no store round trip. (Instances sending to that
   * recipient from elsewhere take from its store bucket: with several instances a recipient may
   * receive up to twice its rate.) Throws 429 `rate_limited` when the bucket refuses.
   */
  takeRecipientNow(
    identityHash: string,
    requireBundle: boolean,
    local: boolean,
  ): boolean | Promise<boolean> {
    const spec = this.specs.identity.msg_receive;
    const store = this.store;
    if (store.takeTokensNow !== undefined && store.takeRecipientTokensNow !== undefined) {
      const key = identityBucketKey(identityHash, 'msg_receive');
      let result;
      try {
        result = requireBundle
          ? store.takeRecipientTokensNow(identityHash, key, spec, 1)
          : store.takeTokensNow(key, spec, 1);
      } catch (err) {
        rethrowUnlessUnavailable(err);
        this.metrics.storeErrors.inc();
        return true; // fail open
      }
      if (result === 'no_recipient') return false;
      if (!result.allowed) this.refuse('identity_msg_receive', result, false);
      return true;
    }
    if (local && !requireBundle) {
      this.takeLocalBucket('msg_receive', spec, 'identity_msg_receive', identityHash, 1);
      return true;
    }
    return this.takeStoreRecipient(identityHash, requireBundle);
  }

  /**
   * Takes the recipient's token for a message another instance offers here: the recipient's
   * session is here, so its bucket is this process's (as takeRecipientNow() with `local`).
   * `rate_limited` when refused.
   */
  takeOfferedRecipient(identityHash: string): 'rate_limited' | undefined {
    const spec = this.specs.identity.msg_receive;
    try {
      this.takeLocalBucket('msg_receive', spec, 'identity_msg_receive', identityHash, 1);
      return undefined;
    } catch (err) {
      if (err instanceof RelayError && err.code === 'rate_limited') return 'rate_limited';
      throw err;
    }
  }

  private async takeStoreRecipient(identityHash: string, requireBundle: boolean): Promise<boolean> {
    const key = () => identityBucketKey(identityHash, 'msg_receive');
    let known = true;
    const take = requireBundle
      ? async (key: string, spec: BucketSpec, cost: number): Promise<TakeResult> => {
          const result = await this.store.takeRecipientTokens(identityHash, key, spec, cost);
          if (result !== 'no_recipient') return result;
          known = false;
          return { allowed: true, retryAfterMs: 0, jailed: false, jailedUntil: 0 };
        }
      : undefined;
    await this.take(key, this.specs.identity.msg_receive, 'identity_msg_receive', {
      failClosed: false,
      take,
    });
    return known;
  }

  /**
   * Takes `cost` from a bucket of this process (`key`: an IP limit key or an identity hash);
   * throws 429 `rate_limited` when refused, 400 `message_too_large` when `cost` exceeds the
   * whole bucket. Synchronous: no store round trip.
   */
  takeLocal(bucket: LocalBucket, key: string, cost = 1): void {
    const label = bucket === 'msg_send' ? 'identity_msg_send' : bucket;
    const spec = this.specs.local[bucket];
    assertPayable(cost, spec, label);
    this.takeLocalBucket(bucket, spec, label, key, cost);
  }

  private takeLocalBucket(
    bucket: LocalBucket | 'msg_receive',
    spec: BucketSpec,
    label: string,
    key: string,
    cost: number,
  ): void {
    if (++this.localTakes % SWEEP_EVERY === 0)
      for (const map of Object.values(this.local)) map.sweep(SWEEP_BUDGET);
    const map = this.local[bucket];
    const now = this.now();
    let state = map.refresh(key, bucketTtlMs(spec));
    if (state === undefined) {
      state = newBucket(spec, now);
      map.set(key, state, bucketTtlMs(spec));
    }
    const wasJailed = state.jailedUntil > now;
    const result = takeFromBucket(state, spec, cost, now);
    if (!result.allowed) this.refuse(label, result, wasJailed);
  }

  /** Counts a refusal of bucket `label` and throws 429 `rate_limited`. */
  private refuse(label: string, result: TakeResult, wasJailed: boolean): never {
    this.metrics.rateLimited.inc({ bucket: label });
    if (result.jailed && !wasJailed) this.metrics.jailed.inc({ bucket: label });
    throw rateLimited(Math.max(1, Math.ceil(result.retryAfterMs / SECOND_MS)));
  }

  /** How many local buckets this process holds (expired ones too, until the sweep reclaims them). */
  get localBucketCount(): number {
    let count = 0;
    for (const map of Object.values(this.local)) count += map.size;
    return count;
  }

  /** Forgets an identity's local buckets and cached jails (after a burn its counters are gone). */
  forgetIdentity(identityHash: string): void {
    this.local.msg_send.delete(identityHash);
    this.local.msg_receive.delete(identityHash);
    for (const key of this.jailCache.keys())
      if (key.includes(`{${identityHash}}`)) this.jailCache.delete(key);
  }

  private async take(
    keyOf: () => string | Promise<string>,
    spec: BucketSpec,
    bucket: string,
    options: LimitOptions & { take?: Take },
  ): Promise<void> {
    assertPayable(options.cost ?? 1, spec, bucket);
    const now = this.now();
    let key: string;
    let result;
    try {
      // An IP key needs the day's salt, which may have to come from the store first.
      key = await keyOf();
      const jailedUntil = this.jailCache.get(key);
      if (jailedUntil !== undefined) {
        if (jailedUntil > now) {
          this.metrics.rateLimited.inc({ bucket });
          throw rateLimited(Math.ceil((jailedUntil - now) / SECOND_MS));
        }
        this.jailCache.delete(key);
      }
      const take = options.take ?? ((k, s, cost) => this.store.takeTokens(k, s, cost));
      result = await take(key, spec, options.cost ?? 1);
    } catch (err) {
      rethrowUnlessUnavailable(err);
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
    throw rateLimited(Math.max(1, Math.ceil(result.retryAfterMs / SECOND_MS)));
  }

  private sweepJails(now: number): void {
    for (const [key, until] of this.jailCache) if (until <= now) this.jailCache.delete(key);
  }
}
