// Key bundles: POST /keys/upload, GET /keys/fetch, GET /keys/random (docs/protocol.md §2.3–§2.5).
import Type from 'typebox';
import { identityHash, signature } from '../../identity/schemas.js';
import { BundleShape, FetchedBundle, MAX_PREKEYS } from '../../keys/bundle.js';
import { FetchList, MAX_FETCH } from '../../keys/keys-service.js';
import { PowHeaders, replies, type RouteSchema } from './common.js';

export const uploadSchema: RouteSchema = {
  summary: 'Upload the X3DH bundle of an identity',
  description: [
    'Proof of work over identity_hash. Checks in this order, the first failure wins:',
    '413 body too large; 400 invalid_json (not a JSON object); 400 invalid_identity_hash;',
    '401 pow_invalid; 400 invalid_key / 403 identity_mismatch; 400 invalid_bundle (the rest of',
    'the shape); 401 signature_missing / 403 invalid_signature (bundle_signature, then',
    'signedPreKey.signature). The bundle and its prekeys replace the stored ones.',
  ].join(' '),
  tags: ['keys'],
  headers: PowHeaders,
  body: Type.Object({
    identity_hash: identityHash(),
    ...BundleShape.properties,
    bundle_signature: signature({
      description:
        'By the identity key over JSON.stringify of {identityKey, pq_identityKey, signedPreKey, preKeys} as received (absent keys omitted)',
    }),
  }),
  response: replies(
    Type.Object({
      status: Type.Literal('success'),
      prekeys: Type.Integer({
        minimum: 0,
        maximum: MAX_PREKEYS,
        description: 'One-time prekeys now stored',
      }),
    }),
  ),
};

export const fetchSchema: RouteSchema = {
  summary: 'Fetch bundles, consuming one one-time prekey of each',
  description:
    'One hash: its bundle, or 404 not_found. Several: an object of the bundles found, by hash.',
  tags: ['keys'],
  querystring: Type.Object({
    user: Type.Optional(FetchList),
    hashes: Type.Optional(FetchList),
  }),
  response: replies(
    Type.Union([
      FetchedBundle,
      Type.Record(identityHash(), FetchedBundle, { description: 'Several: those found' }),
    ]),
  ),
};

export const randomSchema: RouteSchema = {
  summary: 'Random identity hashes with a live bundle (decoy traffic)',
  description: 'Proof of work over the empty string.',
  tags: ['keys'],
  headers: PowHeaders,
  querystring: Type.Object({
    count: Type.Optional(
      Type.Integer({
        default: 1,
        description: `How many: clamped into 1..${MAX_FETCH}, not refused`,
        examples: [5],
      }),
    ),
  }),
  response: replies(
    Type.Object({
      hashes: Type.Array(identityHash(), {
        maxItems: MAX_FETCH,
        uniqueItems: true,
        description: 'Never more than exist',
      }),
    }),
  ),
};
