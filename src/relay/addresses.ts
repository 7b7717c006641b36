// Who a message can be addressed to: identity hashes (64 hex, normalised to lower case) and,
// in compat mode, v1's legacy identity names and aliases (1–64 chars of [A-Za-z0-9_-]).
import type { CompatMode } from '../config.js';

const HASH_RE = /^[0-9a-fA-F]{64}$/;
const LEGACY_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** The routing address for `value`, or null when it is not a valid recipient in this mode. */
export function parseAddress(value: unknown, compat: CompatMode): string | null {
  if (typeof value !== 'string') return null;
  if (HASH_RE.test(value)) return value.toLowerCase();
  if (compat === 'v1' && LEGACY_RE.test(value)) return value;
  return null;
}

export function isLegacyName(value: unknown): value is string {
  return typeof value === 'string' && LEGACY_RE.test(value);
}
