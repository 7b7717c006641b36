// The X3DH bundle as v1 clients upload it (PROTOCOL.md §2.3): shape validation and the bundle
// signature's message. Everything here is pure; keys-service.ts does the I/O.
import { badRequest, forbidden } from '../errors.js';
import { decodeBase64, verifySignature } from '../identity/crypto.js';
import { checkSignature } from '../identity/proof.js';
import type { Json } from '../json.js';

export const MAX_PREKEYS = 100;
const MAX_KEY_ID = 0xffff_ffff;
const MAX_PQ_KEY_BYTES = 4096;

export interface PreKey {
  keyId: number;
  publicKey: string;
}

export interface SignedPreKey {
  keyId: number;
  publicKey: string;
  pq_publicKey?: string;
  signature: string;
}

/** What is stored and served for an identity (the one-time prekeys are stored apart). */
export interface PublicBundle {
  identity_hash: string;
  registrationId?: number;
  identityKey: string;
  pq_identityKey?: string;
  signedPreKey: SignedPreKey;
}

const invalid = (why: string) => badRequest('invalid_bundle', `Invalid bundle: ${why}`);

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function keyId(v: unknown, field: string): number {
  if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > MAX_KEY_ID)
    throw invalid(`${field} must be an integer 0..2^32-1`);
  return v as number;
}

function x25519Key(v: unknown, field: string): string {
  const raw = decodeBase64(v);
  if (raw === null || raw.length !== 32) throw invalid(`${field} must be 32 bytes of base64`);
  return v as string;
}

function optionalPqKey(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  const raw = decodeBase64(v);
  if (raw === null || raw.length === 0 || raw.length > MAX_PQ_KEY_BYTES)
    throw invalid(`${field} must be base64 of 1..${MAX_PQ_KEY_BYTES} bytes`);
  return v as string;
}

/** Step 5 of §2.3: the remaining shape. Returns the validated parts. */
export function parseBundleShape(
  body: Json,
  identityHash: string,
): { bundle: PublicBundle; preKeys: PreKey[] } {
  const { registrationId, identityKey, signedPreKey, preKeys } = body;
  if (
    registrationId !== undefined &&
    (!Number.isInteger(registrationId) ||
      (registrationId as number) < 0 ||
      (registrationId as number) > MAX_KEY_ID)
  ) {
    throw invalid('registrationId must be an integer 0..2^32-1');
  }
  if (decodeBase64(identityKey)?.length !== 32)
    throw invalid('identityKey must be a 32-byte Ed25519 key');
  const pqIdentityKey = optionalPqKey(body.pq_identityKey, 'pq_identityKey');
  if (!isObject(signedPreKey)) throw invalid('signedPreKey must be an object');
  const spk: SignedPreKey = {
    keyId: keyId(signedPreKey.keyId, 'signedPreKey.keyId'),
    publicKey: x25519Key(signedPreKey.publicKey, 'signedPreKey.publicKey'),
    signature: signedPreKey.signature as string,
  };
  const spkPq = optionalPqKey(signedPreKey.pq_publicKey, 'signedPreKey.pq_publicKey');
  if (spkPq !== undefined) spk.pq_publicKey = spkPq;
  if (decodeBase64(spk.signature)?.length !== 64)
    throw invalid('signedPreKey.signature must be a 64-byte signature');

  const list = preKeys ?? [];
  if (!Array.isArray(list)) throw invalid('preKeys must be an array');
  if (list.length > MAX_PREKEYS) throw invalid(`at most ${MAX_PREKEYS} preKeys`);
  const seen = new Set<number>();
  const parsed = list.map((p: unknown, i): PreKey => {
    if (!isObject(p)) throw invalid(`preKeys[${i}] must be an object`);
    const id = keyId(p.keyId, `preKeys[${i}].keyId`);
    if (seen.has(id)) throw invalid(`duplicate preKey keyId ${id}`);
    seen.add(id);
    return { keyId: id, publicKey: x25519Key(p.publicKey, `preKeys[${i}].publicKey`) };
  });

  const bundle: PublicBundle = {
    identity_hash: identityHash,
    identityKey: identityKey as string,
    signedPreKey: spk,
  };
  if (registrationId !== undefined) bundle.registrationId = registrationId as number;
  if (pqIdentityKey !== undefined) bundle.pq_identityKey = pqIdentityKey;
  return { bundle, preKeys: parsed };
}

/** The text v1 clients sign: JSON.stringify of these fields of the body, in this order. */
export function bundleSignatureMessage(body: Json): string {
  const signed: Json = {};
  for (const field of ['identityKey', 'pq_identityKey', 'signedPreKey', 'preKeys']) {
    if (body[field] !== undefined) signed[field] = body[field];
  }
  return JSON.stringify(signed);
}

/** Steps 6 and 7 of §2.3. */
export function checkBundleSignatures(body: Json, identityKey: Buffer, spk: SignedPreKey): void {
  checkSignature(
    identityKey,
    body.bundle_signature,
    [bundleSignatureMessage(body)],
    'bundle_signature',
  );
  const spkBytes = decodeBase64(spk.publicKey)!;
  if (!verifySignature(identityKey, spkBytes, decodeBase64(spk.signature)!)) {
    throw forbidden('invalid_signature', 'signedPreKey.signature is not valid');
  }
}
