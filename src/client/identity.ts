// Client-side identity material in Node: an Ed25519 identity key, X25519 prekeys, and the X3DH
// bundle exactly as v1 clients build and sign it (core/bundle.ts), with node:crypto keys.
// Browsers use web-identity.ts (same wire results, @noble keys).
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { buildBundleWith, type BundleOptions } from './core/bundle.js';
import type { IdentityOps } from './core/rest.js';

export type { BundleOptions } from './core/bundle.js';

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

/** The upload body of docs/protocol.md §2.3, signed as v1 clients sign it. */
export function buildBundle(
  identity: Identity,
  options: BundleOptions = {},
): Record<string, unknown> {
  return buildBundleWith(
    identity,
    {
      sign: (message) => sign(null, message, identity.privateKey),
      newPreKey: () => rawPublicKey(generateKeyPairSync('x25519').publicKey),
    },
    options,
  );
}

/** How the Node client signs and builds bundles (the REST client and the session use it). */
export const nodeIdentityOps: IdentityOps<Identity> = {
  sign: (identity, message) => sign(null, message, identity.privateKey),
  buildBundle,
};
