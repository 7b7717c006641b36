// Security headers on every response, and CORS for the allowed origins (docs/protocol.md §2).
import type { FastifyInstance } from 'fastify';
import { preflightSchema } from './schemas/ops.js';

/** The headers every response carries, whoever writes it (Fastify, a raw reply, /metrics). */
export function securityHeaders(tls: boolean): Record<string, string> {
  const headers: Record<string, string> = {
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
  };
  if (tls) headers['Strict-Transport-Security'] = 'max-age=31536000';
  return headers;
}

export function registerSecurityHeaders(app: FastifyInstance, tls: boolean): void {
  const headers = securityHeaders(tls);
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(headers);
  });
}

/** `http://localhost` and `http://127.0.0.1` in the list also allow any port on that host. */
export function originAllowed(origin: string, allowed: readonly string[]): boolean {
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  const m = /^(http:\/\/(?:localhost|127\.0\.0\.1)):\d{1,5}$/.exec(origin);
  return m !== null && allowed.includes(m[1]!);
}

export function registerCors(app: FastifyInstance, allowed: readonly string[]): void {
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (origin === undefined) return;
    reply.header('Vary', 'Origin');
    if (!originAllowed(origin, allowed)) return;
    reply.header('Access-Control-Allow-Origin', allowed.includes('*') ? '*' : origin);
    reply.header('Access-Control-Expose-Headers', 'Retry-After');
  });
  // Preflight for any path: the answer carries no body and reveals nothing about routes.
  app.options('*', { schema: preflightSchema }, async (request, reply) => {
    if (request.headers.origin !== undefined && originAllowed(request.headers.origin, allowed)) {
      reply.header('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
      reply.header('Access-Control-Allow-Headers', 'Content-Type, X-PoW-Seed, X-PoW-Nonce');
      reply.header('Access-Control-Max-Age', '600');
    }
    return reply.code(204).send();
  });
}
