// Reading request input: JSON bodies, PoW headers and comma-list query parameters.
import type { FastifyRequest } from 'fastify';
import { badRequest } from '../errors.js';
import { MAX_JSON_DEPTH, parseJsonObject } from '../json-input.js';
import type { PowProof } from '../pow/pow-service.js';

/** Step 1 of every JSON write: the body must be a JSON object (400 `invalid_json`). */
export function jsonObjectBody(request: FastifyRequest): Record<string, unknown> {
  const body = parseJsonObject(typeof request.body === 'string' ? request.body : '');
  if (body === null) {
    throw badRequest(
      'invalid_json',
      `Body must be a JSON object nested at most ${MAX_JSON_DEPTH} deep`,
    );
  }
  return body;
}

export function powProof(request: FastifyRequest): PowProof {
  return { seed: request.headers['x-pow-seed'], nonce: request.headers['x-pow-nonce'] };
}

type Query = Record<string, string | string[] | undefined>;

/** A query parameter as a list: `a=x,y` and `a=x&a=y` both give [x, y]. */
export function queryList(request: FastifyRequest, ...names: string[]): string[] {
  const query = request.query as Query;
  const values: string[] = [];
  for (const name of names) {
    const raw = query[name];
    for (const part of Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]) {
      values.push(
        ...part
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      );
    }
  }
  return values;
}

export function queryValue(request: FastifyRequest, name: string): string | undefined {
  const raw = (request.query as Query)[name];
  return Array.isArray(raw) ? raw[0] : raw;
}
