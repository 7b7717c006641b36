// The token bucket with jail: a pure algorithm on a plain state object, a storage primitive
// shared by the memory backend, the relay's local buckets (ratelimit/limiter.ts) and the Redis
// backend (bucketTtlMs). Its Lua twin, for Redis, is redis/commands/includes/takeFromBucket.lua:
// change both together; the conformance suite holds both to the same rules.
import type { BucketSpec, TakeResult } from './store.js';

export interface BucketState {
  tokens: number;
  updatedAt: number;
  strikes: number;
  strikesSince: number;
  jailedUntil: number;
}

export function newBucket(spec: BucketSpec, now: number): BucketState {
  return { tokens: spec.capacity, updatedAt: now, strikes: 0, strikesSince: now, jailedUntil: 0 };
}

/** Applies one take to `state` (mutated) and returns the verdict. */
export function takeFromBucket(
  state: BucketState,
  spec: BucketSpec,
  cost: number,
  now: number,
): TakeResult {
  if (state.jailedUntil > now) {
    return {
      allowed: false,
      retryAfterMs: state.jailedUntil - now,
      jailed: true,
      jailedUntil: state.jailedUntil,
    };
  }
  const rate = spec.capacity / spec.windowMs;
  state.tokens = Math.min(spec.capacity, state.tokens + (now - state.updatedAt) * rate);
  state.updatedAt = now;
  if (state.tokens >= cost) {
    state.tokens -= cost;
    return { allowed: true, retryAfterMs: 0, jailed: false, jailedUntil: 0 };
  }
  const retryAfterMs = Math.ceil((Math.min(cost, spec.capacity) - state.tokens) / rate);
  if (spec.jail) {
    if (state.strikes === 0 || now - state.strikesSince > 2 * spec.windowMs) {
      state.strikes = 0;
      state.strikesSince = now;
    }
    state.strikes += 1;
    if (state.strikes >= spec.jail.strikes) {
      state.jailedUntil = now + spec.jail.jailMs;
      state.strikes = 0;
      return {
        allowed: false,
        retryAfterMs: spec.jail.jailMs,
        jailed: true,
        jailedUntil: state.jailedUntil,
      };
    }
  }
  return { allowed: false, retryAfterMs, jailed: false, jailedUntil: 0 };
}

/** How long a bucket must be kept: until it is full again and any jail or strike count is over. */
export function bucketTtlMs(spec: BucketSpec): number {
  return Math.max(2 * spec.windowMs, spec.jail?.jailMs ?? 0) + 1000;
}
