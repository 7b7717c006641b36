// POST /account/burn (docs/protocol.md §2.8).
import Type from 'typebox';
import { identityHash, identityKey, signature } from '../../identity/schemas.js';
import { PowHeaders, replies, type RouteSchema } from './common.js';

export const burnSchema: RouteSchema = {
  summary: 'Delete every trace of an identity',
  description: [
    'Proof of work over identity_hash (difficulty at least 5). Deletes the bundle, prekeys,',
    'queue, session tokens, nickname and counters of the identity and closes its sessions.',
    'An unknown identity answers the same.',
  ].join(' '),
  tags: ['account'],
  headers: PowHeaders,
  body: Type.Object({
    identity_hash: identityHash(),
    identityKey: identityKey(),
    signature: signature({
      description: 'By the identity key over BURN:<identity_hash>:<X-PoW-Seed> (v1: BURN:<H>)',
    }),
  }),
  response: replies(Type.Object({ status: Type.Literal('account_purged') })),
};
