// Nicknames: POST /nickname/register, GET /nickname/lookup (docs/protocol.md §2.6, §2.7).
import Type from 'typebox';
import { identityHash, identityKey, signature } from '../../identity/schemas.js';
import { LookupList, Nickname } from '../../nickname/nickname-service.js';
import { PowHeaders, replies, type RouteSchema } from './common.js';

export const registerSchema: RouteSchema = {
  summary: 'Register a nickname for an identity',
  description: [
    'Proof of work over the nickname. Registering another name releases the previous one;',
    '409 nickname_taken when another identity holds it. Compat mode v1 also accepts a',
    'registration without identityKey and signature.',
  ].join(' '),
  tags: ['nickname'],
  headers: PowHeaders,
  body: Type.Object({
    nickname: Nickname,
    identity_hash: identityHash(),
    identityKey: identityKey(),
    signature: signature({ description: 'By the identity key over the UTF-8 nickname' }),
  }),
  response: replies(Type.Object({ status: Type.Literal('success'), nickname: Nickname })),
};

export const lookupSchema: RouteSchema = {
  summary: 'Resolve nicknames to identity hashes',
  description:
    'One name: its record, or 404 not_found. Several: an object of the hashes found, keyed by each name as requested.',
  tags: ['nickname'],
  querystring: Type.Object({
    nick: Type.Optional(LookupList),
    name: Type.Optional(LookupList),
  }),
  response: replies(
    Type.Union([
      Type.Object({ identity_hash: identityHash(), nickname: Nickname }),
      Type.Record(Type.String(), identityHash(), { description: 'Several: those found' }),
    ]),
  ),
};
