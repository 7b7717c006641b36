// The two store backends an end-to-end suite runs against: the embedded memory store, and Redis
// on a redis-server the suite starts itself.
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { RedisStore, type RedisStoreOptions } from '../../src/store/redis/redis-store.js';
import type { Store } from '../../src/store/store.js';
import { silentLogger } from './logs.js';
import { startRedisServer, type TestRedisServer } from './redis-server.js';

export interface Backend {
  name: 'memory' | 'redis';
  /** A fresh store (Redis: on a newly started redis-server, kept in `redis`). */
  store(): Promise<Store>;
  redis?: TestRedisServer;
}

/** A RedisStore on a test server (`url`) or cluster (`cluster`); by default it does not check
 *  that Redis is volatile and its logs go nowhere. */
export function testRedisStore(options: Partial<RedisStoreOptions>): RedisStore {
  return new RedisStore({ requireVolatile: false, logger: silentLogger(), ...options });
}

export function storeBackends(): Backend[] {
  return [
    { name: 'memory', store: async () => new MemoryStore() },
    {
      name: 'redis',
      async store() {
        this.redis = await startRedisServer();
        return testRedisStore({ url: this.redis.url });
      },
    },
  ];
}
