// Operations endpoints (docs/protocol.md §2.9): /health, /ready, and /metrics for the admin token
// only (the metrics listener serves them without one, where the operator binds it).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RelayContext } from '../../context.js';
import { StoreUnavailableError, notFound } from '../../errors.js';
import { withTimeout } from '../../time.js';
import { healthSchema, metricsSchema, readySchema } from '../schemas/ops.js';

const READY_TIMEOUT_MS = 1000;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Only the admin token: behind a reverse proxy every client looks like loopback. */
function metricsAllowed(request: FastifyRequest, adminToken: string | undefined): boolean {
  const given = request.headers['x-admin-token'];
  if (adminToken === undefined || typeof given !== 'string') return false;
  // Hashing first gives equal lengths, so the comparison time says nothing about the token.
  return timingSafeEqual(digest(given), digest(adminToken));
}

export function registerOpsRoutes(app: FastifyInstance, ctx: RelayContext): void {
  app.get('/health', { schema: healthSchema, config: { unlimited: true } }, async () => ({
    status: 'healthy',
    storage: ctx.store.kind,
    tls: ctx.config.tls,
    version: ctx.version,
  }));

  app.get('/ready', { schema: readySchema, config: { unlimited: true } }, async () => {
    try {
      // Until the secret is learnt from the store, PoW and sessions cannot be served either.
      if (!ctx.secret.known) throw new StoreUnavailableError();
      await withTimeout(ctx.store.ping(), READY_TIMEOUT_MS, () => {
        throw new StoreUnavailableError();
      });
    } catch {
      throw new StoreUnavailableError();
    }
    return { status: 'ready', storage: ctx.store.kind };
  });

  app.get('/metrics', { schema: metricsSchema }, async (request, reply) => {
    if (!metricsAllowed(request, ctx.config.adminToken)) {
      throw notFound();
    }
    const text = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(text);
  });
}
