// Chooses the backend: Redis when a URL, a cluster or Sentinels are configured, the in-process
// store otherwise.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { MemoryStore } from './memory/memory-store.js';
import type { Store } from './store.js';

export async function createStore(config: Config, logger: Logger): Promise<Store> {
  const cluster = config.redisCluster;
  const sentinels = config.redisSentinels;
  if (config.redisUrl !== undefined || cluster.length > 0 || sentinels.length > 0) {
    // Loaded only when used: a single-process relay never loads the Redis client.
    const { RedisStore } = await import('./redis/redis-store.js');
    return new RedisStore({
      url: config.redisUrl,
      cluster: cluster.length > 0 ? cluster : undefined,
      sentinels:
        sentinels.length > 0
          ? {
              nodes: sentinels,
              name: config.redisSentinelName,
              password: config.redisSentinelPassword,
            }
          : undefined,
      requireVolatile: config.requireVolatile,
      queueHighWater: config.redisQueueHighWater,
      waitReplicas: config.redisWaitReplicas,
      waitTimeoutMs: config.redisWaitTimeoutMs,
      logger,
    });
  }
  return new MemoryStore(Date.now, config.queueTotalBytes);
}
