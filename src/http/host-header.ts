// Requests without the Host HTTP/1.1 requires get a padded 400 (net/host-header.ts).
import type { FastifyInstance } from 'fastify';
import { badRequest } from '../errors.js';
import { lacksHost } from '../net/host-header.js';

export function registerHostCheck(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!lacksHost(request.raw)) return;
    reply.header('Connection', 'close');
    throw badRequest('bad_request', 'Missing Host header');
  });
}
