// Per-IP token buckets on HTTP requests: the global bucket on every request, plus the route's
// own bucket named in its route config. Runs before the body is read.
import type { FastifyInstance } from 'fastify';
import type { IpBucket, RateLimiter } from '../ratelimit/limiter.js';
import { ipLimitKey } from '../net/ip-limit-key.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's own per-IP bucket. */
    bucket?: IpBucket;
    /** PoW-gated write: fail closed when the store is unreachable. */
    gated?: boolean;
    /** Never rate limited (/health, /ready). */
    unlimited?: boolean;
  }
}

export function registerRateLimits(app: FastifyInstance, limiter: RateLimiter): void {
  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config;
    if (request.method === 'OPTIONS' || config.unlimited) return;
    const ipKey = ipLimitKey(request.ip);
    await limiter.takeIp(ipKey, 'global', { failClosed: false });
    if (config.bucket)
      await limiter.takeIp(ipKey, config.bucket, { failClosed: config.gated === true });
  });
}
