// The clock: the system clock must be plausible, kept by NTP where systemd can say so
// (timedatectl), and agree with Redis's (the token buckets and queue expiries run on Redis's
// clock, PoW seeds and session expiries on each instance's).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { RedisClient } from '../store/redis/connection.js';
import { SECOND_MS } from '../time.js';
import { errorText, fail, ok, warn, type CheckResult } from './check.js';

/** More apart than this: warn. */
export const MAX_SKEW_MS = 2 * SECOND_MS;
/** A system clock before this is certainly wrong (the relay did not exist yet). */
const EARLIEST = Date.UTC(2025, 0, 1);
const TIMEDATECTL_TIMEOUT_MS = 3000;

/** systemd's answer to "is the clock NTP-synchronised?": "yes" or "no" (throws without systemd). */
export async function timedatectlNtp(): Promise<string> {
  const { stdout } = await promisify(execFile)(
    'timedatectl',
    ['show', '-p', 'NTPSynchronized', '--value'],
    { timeout: TIMEDATECTL_TIMEOUT_MS },
  );
  return stdout.trim();
}

export async function clockChecks(
  redis: RedisClient | undefined,
  now = Date.now,
  ntp = timedatectlNtp,
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
  results.push(await ntpCheck(ntp));
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

/** Warns only when timedatectl says "no"; without it (no systemd, a container) nothing is known. */
export async function ntpCheck(ntp: () => Promise<string>): Promise<CheckResult> {
  let answer: string;
  try {
    answer = await ntp();
  } catch (err) {
    const { code, stderr } = err as { code?: unknown; stderr?: string };
    const why =
      code === 'ENOENT'
        ? 'no timedatectl here'
        : `timedatectl: ${stderr?.trim().split('\n')[0] || errorText(err).split('\n')[0]}`;
    return ok('clock.ntp', `NTP synchronisation unknown (${why})`);
  }
  if (answer === 'yes') return ok('clock.ntp', 'NTP-synchronised (timedatectl)');
  if (answer === 'no')
    return warn(
      'clock.ntp',
      'timedatectl says the clock is not NTP-synchronised: enable time synchronisation ' +
        '(timedatectl set-ntp true, chrony or ntpd) so that instances and Redis agree',
    );
  return ok('clock.ntp', `NTP synchronisation unknown (timedatectl said "${answer}")`);
}
