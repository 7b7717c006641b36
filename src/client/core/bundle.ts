// The X3DH key bundle of docs/protocol.md §2.3, built and signed exactly as v1 clients do it, for
// any identity type: the platform supplies Ed25519 signing and X25519 key generation.
import { toBase64, utf8 } from './bytes.js';

/** What every identity type has in common: the hash and the raw 32-byte Ed25519 public key. */
export interface PublicIdentity {
  /** hex(SHA-256(raw Ed25519 public key)) */
  identityHash: string;
  publicKey: Uint8Array;
}

export interface BundleOptions {
  preKeys?: number;
  registrationId?: number;
  /** Adds v1's post-quantum fields (opaque bytes here). */
  pqIdentityKey?: Uint8Array;
  /** Called after each one-time prekey is made (bulk uploads show progress with it). */
  onPreKey?: (made: number, total: number) => void;
}

export interface BundleCrypto {
  /** Ed25519 signature by the identity key. */
  sign(message: Uint8Array): Uint8Array;
  /** A fresh X25519 public key (its private half is not needed to upload). */
  newPreKey(): Uint8Array;
}

/** The upload body of docs/protocol.md §2.3, signed as v1 clients sign it. */
export function buildBundleWith(
  identity: PublicIdentity,
  crypto: BundleCrypto,
  options: BundleOptions = {},
): Record<string, unknown> {
  const spk = crypto.newPreKey();
  const signedPreKey = {
    keyId: 1,
    publicKey: toBase64(spk),
    signature: toBase64(crypto.sign(spk)),
  };
  const total = options.preKeys ?? 20;
  const preKeys = Array.from({ length: total }, (_, i) => {
    const publicKey = toBase64(crypto.newPreKey());
    options.onPreKey?.(i + 1, total);
    return { keyId: 100 + i, publicKey };
  });
  const signed: Record<string, unknown> = { identityKey: toBase64(identity.publicKey) };
  if (options.pqIdentityKey) signed.pq_identityKey = toBase64(options.pqIdentityKey);
  signed.signedPreKey = signedPreKey;
  signed.preKeys = preKeys;
  return {
    identity_hash: identity.identityHash,
    registrationId: options.registrationId ?? 1234,
    ...signed,
    bundle_signature: toBase64(crypto.sign(utf8(JSON.stringify(signed)))),
  };
}
