// Chooses the backend: Redis when a URL, a cluster or Sentinels are configured, the in-process
// store otherwise.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { MemoryStore } from './memory/memory-store.js';
import type { RedisEndpoint } from './redis/connection.js';
import type { Store } from './store.js';

/** The Redis the configuration names (a URL, Cluster seeds or Sentinels), or undefined: memory. */
export function redisEndpoint(config: Config): RedisEndpoint | undefined {
  const { redisUrl: url, redisCluster: cluster, redisSentinels: sentinels } = config;
  if (url === undefined && cluster.length === 0 && sentinels.length === 0) return undefined;
  return {
    url,
    cluster: cluster.length > 0 ? cluster : undefined,
    sentinels:
      sentinels.length > 0
        ? {
            nodes: sentinels,
            name: config.redisSentinelName,
            password: config.redisSentinelPassword,
          }
        : undefined,
  };
}

export async function createStore(config: Config, logger: Logger): Promise<Store> {
  const endpoint = redisEndpoint(config);
  if (endpoint) {
    // Loaded only when used: a single-process relay never loads the Redis client.
    const { RedisStore } = await import('./redis/redis-store.js');
    return new RedisStore({
      ...endpoint,
      requireVolatile: config.requireVolatile,
      queueHighWater: config.redisQueueHighWater,
      waitReplicas: config.redisWaitReplicas,
      waitTimeoutMs: config.redisWaitTimeoutMs,
      logger,
    });
  }
  return new MemoryStore(Date.now, config.queueTotalBytes);
}
