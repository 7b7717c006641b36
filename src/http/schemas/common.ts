// What the route families share: the error body, the proof-of-work headers, "no query".
import type { FastifySchema } from 'fastify';
import Type, { type TSchema } from 'typebox';
import { NONCE_PATTERN } from '../../pow/hash-rule.js';
import { SEED_HEX } from '../../pow/seed.js';

/** A route's schemas, with what an API document says about the route itself. */
export interface RouteSchema extends FastifySchema {
  summary: string;
  description?: string;
  tags: string[];
}

export const ErrorReply = Type.Object(
  {
    error: Type.String({ description: 'For humans', examples: ['Not found'] }),
    code: Type.String({
      pattern: '^[a-z_]+$',
      description: 'For programs',
      examples: ['not_found'],
    }),
    retry_after: Type.Optional(
      Type.Integer({ description: 'Seconds, as in the Retry-After header (429)' }),
    ),
  },
  { description: 'Every error (docs/protocol.md §2)' },
);

/** The replies of a route: `ok` on success, the error body otherwise. Every body is padded (§6). */
export function replies(ok: TSchema): { 200: TSchema; default: TSchema } {
  return { 200: ok, default: ErrorReply };
}

export const PowHeaders = Type.Object(
  {
    'x-pow-seed': Type.String({
      pattern: SEED_HEX.source,
      description: 'A seed from GET /pow/challenge; single use',
    }),
    'x-pow-nonce': Type.String({
      pattern: NONCE_PATTERN.source,
      description: 'The solution: a decimal nonce (docs/protocol.md §2.2)',
      examples: ['48213'],
    }),
  },
  { description: 'The proof of work this request carries; missing or wrong: 401 pow_invalid' },
);

export const NoQuery = Type.Object({}, { description: 'No query parameters' });
