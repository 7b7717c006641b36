// Secrets: ENTROPY_SECRET_SALT (keys PoW seeds, session-token hashes and per-IP bucket keys) long
// and varied enough, and what happens without it; ENTROPY_ADMIN_TOKEN when set.
import type { Config } from '../config.js';
import { MIN_SECRET_LENGTH } from '../secret.js';
import { redisEndpoint } from '../store/index.js';
import { fail, ok, warn, type CheckResult } from './check.js';

/** Estimated bits below which a secret is called guessable. */
export const MIN_SECRET_BITS = 96;

export function secretChecks(config: Config): CheckResult[] {
  const redis = redisEndpoint(config) !== undefined;
  const results: CheckResult[] = [];
  const salt = config.secretSalt;
  if (salt === undefined) {
    results.push(
      redis
        ? warn(
            'secret.salt',
            'ENTROPY_SECRET_SALT unset: the instances share a random secret kept in Redis, next ' +
              'to the per-IP bucket keys it hides; set it (e.g. openssl rand -hex 32) on every instance',
          )
        : ok(
            'secret.salt',
            'ENTROPY_SECRET_SALT unset: random at every start (one instance, memory store); PoW ' +
              'seeds and session tokens do not outlive a restart',
          ),
    );
  } else {
    results.push(strength('secret.salt', 'ENTROPY_SECRET_SALT', salt, 'fail'));
  }
  if (config.adminToken !== undefined)
    results.push(strength('secret.admin-token', 'ENTROPY_ADMIN_TOKEN', config.adminToken, 'warn'));
  return results;
}

function strength(check: string, name: string, value: string, short: 'fail' | 'warn'): CheckResult {
  const bits = Math.floor(estimatedBits(value));
  if (value.length < MIN_SECRET_LENGTH) {
    const detail = `${name} has ${value.length} characters: use at least ${MIN_SECRET_LENGTH} random ones (e.g. openssl rand -hex 32)`;
    return short === 'fail' ? fail(check, detail) : warn(check, detail);
  }
  if (bits < MIN_SECRET_BITS) {
    return warn(
      check,
      `${name} looks guessable (about ${bits} bits from its character frequencies): use random characters (e.g. openssl rand -hex 32)`,
    );
  }
  return ok(check, `${name}: ${value.length} characters, about ${bits} bits`);
}

/**
 * A rough upper bound on a string's entropy: its length times the Shannon entropy of its own
 * character frequencies. Repetitive or low-variety strings score low; it cannot tell a random
 * string from a well-known one.
 */
export function estimatedBits(value: string): number {
  const chars = [...value];
  const counts = new Map<string, number>();
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  let perChar = 0;
  for (const n of counts.values()) {
    const p = n / chars.length;
    perChar -= p * Math.log2(p);
  }
  return perChar * chars.length;
}
