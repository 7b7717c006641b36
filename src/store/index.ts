// Chooses the backend: Redis when a URL or cluster is configured, the in-process store otherwise.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { MemoryStore } from './memory/memory-store.js';
import type { Store } from './store.js';

export async function createStore(config: Config, logger: Logger): Promise<Store> {
  if (config.redisUrl !== undefined || config.redisCluster.length > 0) {
    // Loaded only when used: a single-process relay never loads the Redis client.
    const { RedisStore } = await import('./redis/redis-store.js');
    return new RedisStore({
      url: config.redisUrl,
      cluster: config.redisCluster.length > 0 ? config.redisCluster : undefined,
      requireVolatile: config.requireVolatile,
      queueHighWater: config.redisQueueHighWater,
      logger,
    });
  }
  return new MemoryStore(Date.now, config.queueTotalBytes);
}
