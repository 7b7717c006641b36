// GET /pow/challenge (docs/protocol.md §2.1).
import Type from 'typebox';
import { CHALLENGE_TYPE_NAMES, SEED_LIFETIME_S } from '../../pow/pow-service.js';
import { SEED_HEX } from '../../pow/seed.js';
import { replies, type RouteSchema } from './common.js';

export const challengeSchema: RouteSchema = {
  summary: 'A proof-of-work challenge',
  description:
    'Stateless: issuing one stores nothing. Single use, valid for expires_in seconds. Without a type, a general challenge usable for auth, upload and burn.',
  tags: ['pow'],
  querystring: Type.Object({
    identity_hash: Type.Optional(
      Type.String({
        description:
          'The identity the work is for, for its age discount: 64 hex characters (compat mode v1 also accepts a legacy name, 1-64 of A-Z a-z 0-9 _ -)',
      }),
    ),
    type: Type.Optional(
      Type.Enum(['', ...CHALLENGE_TYPE_NAMES], {
        description: 'What the work is for (decoy is random); empty counts as absent',
      }),
    ),
    nickname: Type.Optional(
      Type.String({
        description: 'The nickname to register: selects the nickname difficulty',
        examples: ['Alice_1'],
      }),
    ),
  }),
  response: replies(
    Type.Object({
      seed: Type.String({ pattern: SEED_HEX.source, description: 'Send it as X-PoW-Seed' }),
      difficulty: Type.Integer({ description: 'Leading zero hex digits the digest needs' }),
      expires_in: Type.Literal(SEED_LIFETIME_S, { description: 'Seconds' }),
    }),
  ),
};
