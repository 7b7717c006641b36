// HTTP/1.1 requests must name their Host (RFC 9112 §3.2). Node's own check would answer an empty,
// unpadded 400, so it is off (listener.ts) and the relay refuses them itself.
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { badRequest } from '../errors.js';

export function lacksHost(req: IncomingMessage): boolean {
  return req.headers.host === undefined && req.httpVersion === '1.1';
}

export function registerHostCheck(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!lacksHost(request.raw)) return;
    reply.header('Connection', 'close');
    throw badRequest('bad_request', 'Missing Host header');
  });
}
