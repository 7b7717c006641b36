// Who can be addressed: identity hashes (64 hex, normalised to lower case) and, in compat mode,
// v1's legacy identity names and aliases (1–64 chars of [A-Za-z0-9_-]). Every place that takes an
// identity or recipient from a client (challenge query, WebSocket auth, relay targets, aliases)
// parses it here, so a name accepted by one is accepted by all.
import type { CompatMode } from '../config.js';
import { isIdentityHash } from '../identity/crypto.js';

const LEGACY_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** The address for `value`, or null when it is not an address in this mode. */
export function parseAddress(value: unknown, compat: CompatMode): string | null {
  if (isIdentityHash(value)) return value.toLowerCase();
  if (compat === 'v1' && typeof value === 'string' && LEGACY_RE.test(value)) return value;
  return null;
}

/** What parseAddress accepts in this mode, for error messages. */
export function addressRule(compat: CompatMode): string {
  const hash = '64 hex characters';
  return compat === 'v1' ? `${hash} or a legacy name (1-64 of A-Z a-z 0-9 _ -)` : hash;
}

/** A legacy name (compat mode): an address with no key behind it. */
export function isLegacyName(address: string): boolean {
  return !isIdentityHash(address);
}
