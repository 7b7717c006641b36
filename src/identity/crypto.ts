// Identity primitives: hashes, strict base64, Ed25519 verification. The one place signatures
// are checked (REST and WebSocket both call verifySignature).
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { badRequest } from '../errors.js';

export const IDENTITY_HASH_RE = /^[0-9a-fA-F]{64}$/;
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows it.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function isIdentityHash(value: unknown): value is string {
  return typeof value === 'string' && IDENTITY_HASH_RE.test(value);
}

/** Lower-cases a 64-hex identity hash; throws 400 `invalid_identity_hash` otherwise. */
export function parseIdentityHash(value: unknown, field = 'identity_hash'): string {
  if (!isIdentityHash(value)) {
    throw badRequest('invalid_identity_hash', `${field} must be 64 hex characters`);
  }
  return value.toLowerCase();
}

/** Strict standard base64 with padding; null when `value` is not that. */
export function decodeBase64(value: unknown): Buffer | null {
  if (typeof value !== 'string' || !B64_RE.test(value)) return null;
  return Buffer.from(value, 'base64');
}

export function identityHashOf(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex');
}

function ed25519Key(raw: Uint8Array): KeyObject | null {
  if (raw.length !== 32) return null;
  try {
    return createPublicKey({
      key: Buffer.concat([ED25519_SPKI_PREFIX, raw]),
      format: 'der',
      type: 'spki',
    });
  } catch {
    return null;
  }
}

/** Ed25519 verification of `signature` over `message` by the raw 32-byte `publicKey`. */
export function verifySignature(
  publicKey: Uint8Array,
  message: string | Uint8Array,
  signature: Uint8Array,
): boolean {
  const key = ed25519Key(publicKey);
  if (key === null || signature.length !== 64) return false;
  try {
    return verify(
      null,
      typeof message === 'string' ? Buffer.from(message, 'utf8') : message,
      key,
      signature,
    );
  } catch {
    return false;
  }
}
