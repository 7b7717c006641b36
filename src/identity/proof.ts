// Proof that a request comes from the holder of an identity's key: the key hashes to the
// identity, and a signature by it verifies. Shared by REST (upload, nickname, burn) and WS auth.
import { RelayError, badRequest, forbidden } from '../errors.js';
import { decodeBase64, identityHashOf, verifySignature } from './crypto.js';

/** Decodes `identityKey` and checks it hashes to `identityHash` (403 with "mismatch" otherwise). */
export function keyOfIdentity(identityHash: string, identityKey: unknown): Buffer {
  const key = decodeBase64(identityKey);
  if (key === null) throw badRequest('invalid_key', 'identityKey must be standard base64');
  if (identityHashOf(key) !== identityHash) {
    throw forbidden(
      'identity_mismatch',
      'Identity key mismatch: the key does not hash to identity_hash',
    );
  }
  return key;
}

/** Checks a b64 Ed25519 signature by `key` over one of `messages` (401 when absent, 403 when invalid). */
export function checkSignature(
  key: Uint8Array,
  signature: unknown,
  messages: readonly string[],
  what = 'signature',
): void {
  if (signature === undefined || signature === null || signature === '') {
    throw new RelayError(401, 'signature_missing', `${what} is missing`);
  }
  const raw = decodeBase64(signature);
  if (raw === null || !messages.some((m) => verifySignature(key, m, raw))) {
    throw forbidden('invalid_signature', `${what} is not valid`);
  }
}
