// The clock: the system clock must be plausible, and agree with Redis's (the token buckets and
// queue expiries run on Redis's clock, PoW seeds and session expiries on each instance's).
import type { RedisClient } from '../store/redis/connection.js';
import { SECOND_MS } from '../time.js';
import { errorText, fail, ok, warn, type CheckResult } from './check.js';

/** More apart than this: warn. */
export const MAX_SKEW_MS = 2 * SECOND_MS;
/** A system clock before this is certainly wrong (the relay did not exist yet). */
const EARLIEST = Date.UTC(2025, 0, 1);

export async function clockChecks(
  redis: RedisClient | undefined,
  now = Date.now,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const system = now();
  if (system < EARLIEST) {
    results.push(
      fail('clock.system', `the system clock says ${new Date(system).toISOString()}: set it (NTP)`),
    );
  } else {
    results.push(ok('clock.system', new Date(system).toISOString()));
  }
  if (redis === undefined) return results;
  try {
    const before = now();
    const [seconds, micros] = await redis.time();
    const after = now();
    const redisMs = Number(seconds) * SECOND_MS + Math.floor(Number(micros) / 1000);
    results.push(skewVerdict(redisMs - (before + after) / 2, after - before));
  } catch (err) {
    results.push(warn('clock.redis', `could not read Redis TIME (${errorText(err)})`));
  }
  return results;
}

/** `skewMs`: Redis's clock minus ours at the middle of the round trip. */
export function skewVerdict(skewMs: number, roundTripMs: number): CheckResult {
  const detail =
    `Redis clock ${skewMs >= 0 ? 'ahead of' : 'behind'} this host by ${Math.abs(Math.round(skewMs))} ms ` +
    `(round trip ${Math.round(roundTripMs)} ms)`;
  if (Math.abs(skewMs) > MAX_SKEW_MS)
    return warn(
      'clock.redis',
      `${detail}: over ${MAX_SKEW_MS / SECOND_MS} s, synchronise both clocks (NTP)`,
    );
  return ok('clock.redis', detail);
}
