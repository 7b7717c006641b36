// The Redis key layout (docs/protocol.md §8). Every key of one identity carries the hash tag {H},
// so one script can touch them all on a Redis Cluster; nicknames and the pool live in other slots.
import { IDENTITY_BUCKETS, identityBucketKey } from '../store.js';

export const SECRET_KEY = 'secret';
export const dailySaltKey = (day: number): string => `salt:${day}`;
/** Sorted set of identities with a live bundle, scored by the bundle's expiry (Redis time, ms). */
export const POOL_KEY = 'pool:random';

export const nicknameKey = (lowercaseNickname: string): string => `nick:${lowercaseNickname}`;
export const spentSeedKey = (seed: string): string => `spent:${seed}`;
export const channelOf = (identityHash: string): string => `msg:{${identityHash}}`;

export function identityKeys(identityHash: string) {
  const tag = `{${identityHash}}`;
  return {
    bundle: `bundle:${tag}`,
    prekeys: `prekeys:${tag}`,
    offline: `offline:${tag}`,
    /** Total payload bytes of the offline queue. */
    offsize: `offsize:${tag}`,
    session: `session:${tag}`,
    seen: `seen:${tag}`,
    nickof: `nickof:${tag}`,
    buckets: IDENTITY_BUCKETS.map((name) => identityBucketKey(identityHash, name)),
  };
}
