// The X3DH bundle as v1 clients upload it (docs/protocol.md §2.3): its schema, the shape check
// built from it and the bundle signature's message. Everything here is pure; keys-service.ts does
// the I/O.
import Type, { type Static } from 'typebox';
import { badRequest, forbidden } from '../errors.js';
import { decodeBase64, verifySignature } from '../identity/crypto.js';
import { checkSignature } from '../identity/proof.js';
import { base64, identityHash, identityKey, signature, x25519Key } from '../identity/schemas.js';
import { compileCheck } from '../schema-check.js';
import type { Json } from '../json.js';

export const MAX_PREKEYS = 100;
const MAX_KEY_ID = 0xffff_ffff;
const MAX_PQ_KEY_BYTES = 4096;

const uint32 = (description: string, example: number) =>
  Type.Integer({
    minimum: 0,
    maximum: MAX_KEY_ID,
    description,
    examples: [example],
    errorMessage: '{field} must be an integer 0..2^32-1',
  });
const keyId = (description: string) => uint32(description, 1);
const prekeyPublicKey = () => x25519Key({ errorMessage: '{field} must be 32 bytes of base64' });
const pqKey = (description: string) =>
  base64(1, MAX_PQ_KEY_BYTES, {
    description,
    errorMessage: `{field} must be base64 of 1..${MAX_PQ_KEY_BYTES} bytes`,
  });

export const PreKey = Type.Object(
  {
    keyId: keyId('Unique within the upload'),
    publicKey: prekeyPublicKey(),
  },
  { description: 'A one-time X25519 prekey', errorMessage: '{field} must be an object' },
);

export const SignedPreKey = Type.Object(
  {
    keyId: keyId("The signed prekey's id"),
    publicKey: prekeyPublicKey(),
    pq_publicKey: Type.Optional(pqKey("v1's post-quantum prekey (opaque bytes)")),
    signature: signature({
      description: 'Ed25519 signature by the identity key over the raw 32 bytes of publicKey',
      errorMessage: '{field} must be a 64-byte signature',
    }),
  },
  { errorMessage: '{field} must be an object' },
);

// What an upload carries beside the prekeys, as stored and served.
const bundleFields = {
  registrationId: Type.Optional(uint32("The client's registration id", 1234)),
  identityKey: identityKey({ errorMessage: '{field} must be a 32-byte Ed25519 key' }),
  pq_identityKey: Type.Optional(pqKey("v1's post-quantum identity key (opaque bytes)")),
  signedPreKey: SignedPreKey,
};

/** Step 5 of §2.3: the remaining shape of an upload (the hash and the key were checked before). */
export const BundleShape = Type.Object({
  ...bundleFields,
  preKeys: Type.Optional(
    Type.Union(
      [
        Type.Array(PreKey, {
          maxItems: MAX_PREKEYS,
          errorMessage: {
            type: '{field} must be an array',
            maxItems: `at most ${MAX_PREKEYS} preKeys`,
          },
        }),
        Type.Null(),
      ],
      {
        description: `One-time prekeys, keyIds unique, at most ${MAX_PREKEYS}; they replace the stored set (null: none)`,
      },
    ),
  ),
});

/** What is stored and served for an identity (the one-time prekeys are stored apart). */
export const PublicBundle = Type.Object({
  identity_hash: identityHash({ description: 'The identity, in lower case' }),
  ...bundleFields,
});

/** A fetched bundle: the one one-time prekey the fetch consumed, or none left. */
export const FetchedBundle = Type.Object({
  ...PublicBundle.properties,
  preKeys: Type.Array(PreKey, { maxItems: 1 }),
});

export type PreKey = Static<typeof PreKey>;
export type SignedPreKey = Static<typeof SignedPreKey>;
export type PublicBundle = Static<typeof PublicBundle>;
export type FetchedBundle = Static<typeof FetchedBundle>;

const invalid = (why: string) => badRequest('invalid_bundle', `Invalid bundle: ${why}`);
const checkShape = compileCheck(BundleShape);

/** Step 5 of §2.3: the remaining shape. Returns the validated parts. */
export function parseBundleShape(
  body: Json,
  identityHash: string,
): { bundle: PublicBundle; preKeys: PreKey[] } {
  const failure = checkShape(body);
  if (failure !== null) throw invalid(failure.message);
  const { registrationId, identityKey, pq_identityKey, signedPreKey, preKeys } = body as Static<
    typeof BundleShape
  >;
  // What a schema cannot say: keyIds are unique.
  const seen = new Set<number>();
  for (const { keyId } of preKeys ?? []) {
    if (seen.has(keyId)) throw invalid(`duplicate preKey keyId ${keyId}`);
    seen.add(keyId);
  }
  // Only the known fields are kept, in this order (it is the order fetch serves them in).
  const spk: SignedPreKey = {
    keyId: signedPreKey.keyId,
    publicKey: signedPreKey.publicKey,
    signature: signedPreKey.signature,
  };
  if (signedPreKey.pq_publicKey !== undefined) spk.pq_publicKey = signedPreKey.pq_publicKey;
  const bundle: PublicBundle = { identity_hash: identityHash, identityKey, signedPreKey: spk };
  if (registrationId !== undefined) bundle.registrationId = registrationId;
  if (pq_identityKey !== undefined) bundle.pq_identityKey = pq_identityKey;
  return {
    bundle,
    preKeys: (preKeys ?? []).map((p) => ({ keyId: p.keyId, publicKey: p.publicKey })),
  };
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
