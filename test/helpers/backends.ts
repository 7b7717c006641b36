// The two store backends an end-to-end suite runs against: the embedded memory store, and Redis
// on a redis-server the suite starts itself.
import { createLogger } from '../../src/log.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { RedisStore } from '../../src/store/redis/redis-store.js';
import type { Store } from '../../src/store/store.js';
import { startRedisServer, type TestRedisServer } from './redis-server.js';
import { logCapture } from './relay.js';

export interface Backend {
  name: 'memory' | 'redis';
  /** A fresh store (Redis: on a newly started redis-server, kept in `redis`). */
  store(): Promise<Store>;
  redis?: TestRedisServer;
}

/** A RedisStore on `url` whose logs go nowhere. */
export function quietRedisStore(url: string): RedisStore {
  return new RedisStore({
    url,
    requireVolatile: false,
    logger: createLogger('silent', logCapture().stream),
  });
}

export function storeBackends(): Backend[] {
  return [
    { name: 'memory', store: async () => new MemoryStore() },
    {
      name: 'redis',
      async store() {
        this.redis = await startRedisServer();
        return quietRedisStore(this.redis.url);
      },
    },
  ];
}
