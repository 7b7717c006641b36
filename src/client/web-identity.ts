// Identity material for browsers (and any JavaScript runtime with WebCrypto's getRandomValues):
// Ed25519 and X25519 from @noble/curves, SHA-256 from @noble/hashes (audited, pure JS). The wire
// results are those of the Node client (identity.ts): same hash, same signatures, same bundle.
// The JSON form is the CLI's identity file (PKCS#8 PEM), so a key moves between the two.
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, fromBase64, toBase64, toHex, utf8 } from './core/bytes.js';
import { buildBundleWith, type BundleOptions } from './core/bundle.js';
import type { IdentityOps } from './core/rest.js';

export type { BundleOptions } from './core/bundle.js';

export interface WebIdentity {
  /** hex(SHA-256(raw Ed25519 public key)) */
  identityHash: string;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  /** The 32-byte Ed25519 secret key (seed). Keep it out of logs and of other origins. */
  privateKey: Uint8Array;
}

export interface WebPreKeyPair {
  keyId: number;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

/** The CLI's identity file: { identity_hash, private_key (PKCS#8 PEM) }. */
export interface IdentityJson {
  identity_hash: string;
  private_key: string;
}

// DER prefix of an Ed25519 PKCS#8 PrivateKeyInfo (RFC 8410); the 32-byte seed follows it.
const ED25519_PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

export function identityHashOf(publicKey: Uint8Array): string {
  return toHex(sha256(publicKey));
}

/** The identity of a 32-byte Ed25519 secret key. */
export function identityFromSecretKey(secretKey: Uint8Array): WebIdentity {
  if (secretKey.length !== 32) throw new TypeError('An Ed25519 secret key has 32 bytes');
  const publicKey = ed25519.getPublicKey(secretKey);
  return { identityHash: identityHashOf(publicKey), publicKey, privateKey: secretKey.slice() };
}

export function generateIdentity(): WebIdentity {
  return identityFromSecretKey(ed25519.utils.randomSecretKey());
}

/** Base64 Ed25519 signature of `message` (a string is signed as its UTF-8). */
export function signMessage(identity: WebIdentity, message: string | Uint8Array): string {
  return toBase64(signBytes(identity, typeof message === 'string' ? utf8(message) : message));
}

function signBytes(identity: WebIdentity, message: Uint8Array): Uint8Array {
  return ed25519.sign(message, identity.privateKey);
}

/** Ed25519 verification (raw 32-byte public key, 64-byte signature). */
export function verifySignature(
  publicKey: Uint8Array,
  message: string | Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    return ed25519.verify(
      signature,
      typeof message === 'string' ? utf8(message) : message,
      publicKey,
    );
  } catch {
    return false;
  }
}

export function generatePreKeys(count: number, firstKeyId = 1): WebPreKeyPair[] {
  return Array.from({ length: count }, (_, i) => {
    const privateKey = x25519.utils.randomSecretKey();
    return { keyId: firstKeyId + i, publicKey: x25519.getPublicKey(privateKey), privateKey };
  });
}

/** The upload body of docs/protocol.md §2.3, signed as v1 clients sign it. */
export function buildBundle(
  identity: WebIdentity,
  options: BundleOptions = {},
): Record<string, unknown> {
  return buildBundleWith(
    identity,
    {
      sign: (message) => signBytes(identity, message),
      newPreKey: () => x25519.getPublicKey(x25519.utils.randomSecretKey()),
    },
    options,
  );
}

export const webIdentityOps: IdentityOps<WebIdentity> = { sign: signBytes, buildBundle };

/** The identity as the CLI writes it (`entropy-relay client keygen`). */
export function identityToJson(identity: WebIdentity): IdentityJson {
  const der = toBase64(concatBytes(ED25519_PKCS8_PREFIX, identity.privateKey));
  const lines = der.match(/.{1,64}/g) ?? [];
  return {
    identity_hash: identity.identityHash,
    private_key: `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`,
  };
}

/** Reads the CLI's identity file; refuses a key that is not Ed25519 or a hash that disagrees. */
export function identityFromJson(json: unknown): WebIdentity {
  const file = json as Partial<IdentityJson> | null;
  if (typeof file?.private_key !== 'string') throw new Error('Identity file has no private_key');
  const pem = /-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END PRIVATE KEY-----/.exec(
    file.private_key,
  );
  let der: Uint8Array;
  try {
    der = fromBase64((pem?.[1] ?? '').replace(/\s+/g, ''));
  } catch {
    der = new Uint8Array(0);
  }
  const prefixOk =
    der.length === ED25519_PKCS8_PREFIX.length + 32 &&
    ED25519_PKCS8_PREFIX.every((byte, i) => der[i] === byte);
  if (!prefixOk) throw new Error('Identity file: private_key is not an Ed25519 key');
  const identity = identityFromSecretKey(der.subarray(ED25519_PKCS8_PREFIX.length));
  if (
    file.identity_hash !== undefined &&
    String(file.identity_hash).toLowerCase() !== identity.identityHash
  )
    throw new Error('Identity file: identity_hash does not match the private key');
  return identity;
}
