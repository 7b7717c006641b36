// REST routes of docs/protocol.md §2.1–§2.8: PoW challenges, key bundles, nicknames, burn.
import type { FastifyInstance } from 'fastify';
import type { RelayContext } from '../../context.js';
import { badRequest } from '../../errors.js';
import { addressRule, parseAddress } from '../../relay/addresses.js';
import { jsonObjectBody, powProof, queryList, queryValue } from '../request-input.js';
import { burnSchema } from '../schemas/account.js';
import { fetchSchema, randomSchema, uploadSchema } from '../schemas/keys.js';
import { lookupSchema, registerSchema } from '../schemas/nickname.js';
import { challengeSchema } from '../schemas/pow.js';

export function registerIdentityRoutes(app: FastifyInstance, ctx: RelayContext): void {
  const { pow, keys, nicknames, accounts } = ctx.services;
  // Whoever can authenticate can ask for a challenge: compat mode accepts legacy names.
  const challengeIdentity = (value: string): string => {
    const address = parseAddress(value, ctx.config.compat);
    if (address === null) {
      const rule = addressRule(ctx.config.compat);
      throw badRequest('invalid_identity_hash', `identity_hash must be ${rule}`);
    }
    return address;
  };

  app.get(
    '/pow/challenge',
    { schema: challengeSchema, config: { bucket: 'challenge' } },
    async (request) => {
      const identityHash = queryValue(request, 'identity_hash');
      return pow.issue({
        type: queryValue(request, 'type'),
        identityHash: identityHash === undefined ? undefined : challengeIdentity(identityHash),
        nickname: queryValue(request, 'nickname'),
      });
    },
  );

  app.post(
    '/keys/upload',
    { schema: uploadSchema, config: { bucket: 'upload', gated: true } },
    async (request) => keys.upload(jsonObjectBody(request), powProof(request)),
  );

  app.get('/keys/fetch', { schema: fetchSchema, config: { bucket: 'fetch' } }, async (request) => {
    const hashes = queryList(request, 'user', 'hashes');
    if (hashes.length === 1) return keys.fetchOne(hashes[0]!);
    return Object.fromEntries(await keys.fetch(hashes));
  });

  app.get(
    '/keys/random',
    { schema: randomSchema, config: { bucket: 'random', gated: true } },
    async (request) => keys.random(Number(queryValue(request, 'count') ?? 1), powProof(request)),
  );

  app.post(
    '/nickname/register',
    { schema: registerSchema, config: { bucket: 'nick_register', gated: true } },
    async (request) => nicknames.register(jsonObjectBody(request), powProof(request)),
  );

  app.get(
    '/nickname/lookup',
    { schema: lookupSchema, config: { bucket: 'nick_lookup' } },
    async (request) => {
      const names = queryList(request, 'nick', 'name');
      if (names.length === 1) return nicknames.lookupOne(names[0]!);
      const found = await nicknames.lookup(names);
      return Object.fromEntries([...found].map(([name, record]) => [name, record.identity_hash]));
    },
  );

  app.post(
    '/account/burn',
    { schema: burnSchema, config: { bucket: 'burn', gated: true } },
    async (request) => accounts.burn(jsonObjectBody(request), powProof(request)),
  );
}
