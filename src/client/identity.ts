// Client-side identity material: an Ed25519 identity key, X25519 prekeys, and the X3DH bundle
// exactly as v1 clients build and sign it.
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

export interface Identity {
  /** hex(SHA-256(raw Ed25519 public key)) */
  identityHash: string;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Buffer;
  privateKey: KeyObject;
}

export interface PreKeyPair {
  keyId: number;
  publicKey: Buffer;
  privateKey: KeyObject;
}

/** The raw 32-byte public key inside an Ed25519/X25519 SPKI DER. */
function rawPublicKey(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(-32);
}

export function generateIdentity(): Identity {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = rawPublicKey(publicKey);
  return {
    identityHash: createHash('sha256').update(raw).digest('hex'),
    publicKey: raw,
    privateKey,
  };
}

export function signMessage(identity: Identity, message: string | Uint8Array): string {
  const data = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  return sign(null, data, identity.privateKey).toString('base64');
}

export function generatePreKeys(count: number, firstKeyId = 1): PreKeyPair[] {
  return Array.from({ length: count }, (_, i) => {
    const { publicKey, privateKey } = generateKeyPairSync('x25519');
    return { keyId: firstKeyId + i, publicKey: rawPublicKey(publicKey), privateKey };
  });
}

export interface BundleOptions {
  preKeys?: number;
  registrationId?: number;
  /** Adds v1's post-quantum fields (opaque bytes here). */
  pqIdentityKey?: Buffer;
}

/** The upload body of PROTOCOL.md §2.3, signed as v1 clients sign it. */
export function buildBundle(
  identity: Identity,
  options: BundleOptions = {},
): Record<string, unknown> {
  const [spk] = generatePreKeys(1, 1);
  const signedPreKey = {
    keyId: spk!.keyId,
    publicKey: spk!.publicKey.toString('base64'),
    signature: signMessage(identity, spk!.publicKey),
  };
  const preKeys = generatePreKeys(options.preKeys ?? 20, 100).map((p) => ({
    keyId: p.keyId,
    publicKey: p.publicKey.toString('base64'),
  }));
  const signed: Record<string, unknown> = { identityKey: identity.publicKey.toString('base64') };
  if (options.pqIdentityKey) signed.pq_identityKey = options.pqIdentityKey.toString('base64');
  signed.signedPreKey = signedPreKey;
  signed.preKeys = preKeys;
  return {
    identity_hash: identity.identityHash,
    registrationId: options.registrationId ?? 1234,
    ...signed,
    bundle_signature: signMessage(identity, JSON.stringify(signed)),
  };
}
