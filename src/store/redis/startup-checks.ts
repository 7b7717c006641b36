// What the Redis server must be like for the relay to keep its promises: no persistence (relay
// data never reaches a disk) and no eviction (queued messages are never dropped). The findings
// are shared by the start-up (with requireVolatile a violation stops the start; otherwise it is
// a warning) and by `entropy-relay doctor`.
import type { Logger } from '../../log.js';
import { errorMessage, persistenceModes, type RedisClient } from './connection.js';
import { mastersMemory } from './memory-watch.js';

/**
 * One property of the Redis server. `ok`: as it should be; `advice`: not as it should be, but
 * the relay keeps its promises; `volatility`: a promise is broken (refused with requireVolatile);
 * `unknown`: the server would not say (the message says what to make sure of).
 */
export interface RedisFinding {
  topic: 'persistence' | 'maxmemory' | 'eviction';
  status: 'ok' | 'advice' | 'volatility' | 'unknown';
  message: string;
  /** What to do about it (not for `ok`). */
  fix?: string;
  err?: string;
}

export async function checkRedisServer(
  client: RedisClient,
  requireVolatile: boolean,
  logger: Logger,
): Promise<void> {
  for (const finding of await inspectRedisServer(client)) {
    if (finding.status === 'ok') continue;
    const text = finding.fix ? `${finding.message}. ${finding.fix}` : finding.message;
    if (finding.status === 'unknown') logger.warn({ err: finding.err }, text);
    else if (finding.status === 'volatility' && requireVolatile) {
      throw new Error(
        `${finding.message}. Refusing to start because a volatile Redis is required; ` +
          `${finding.fix?.replace(/^./, (c) => c.toLowerCase())}`,
      );
    } else logger.warn(text);
  }
}

/** Persistence, maxmemory and eviction policy of every node (every master for memory). */
export async function inspectRedisServer(client: RedisClient): Promise<RedisFinding[]> {
  return [await inspectPersistence(client), ...(await inspectMemory(client))];
}

async function inspectPersistence(client: RedisClient): Promise<RedisFinding> {
  const topic = 'persistence';
  let modes: string[];
  try {
    modes = await persistenceModes(client);
  } catch (err) {
    return {
      topic,
      status: 'unknown',
      message:
        'Could not check Redis persistence (CONFIG GET refused): make sure RDB and AOF are off',
      err: errorMessage(err),
    };
  }
  if (modes.length === 0) return { topic, status: 'ok', message: 'RDB and AOF are off' };
  return {
    topic,
    status: 'volatility',
    message: `Redis persistence is on (${modes.join(', ')}): relay data can reach the disk`,
    fix: 'Turn off RDB (save "") and AOF (appendonly no) on the Redis server.',
  };
}

/** maxmemory bounds offline storage; only noeviction keeps Redis from dropping queued data. */
async function inspectMemory(client: RedisClient): Promise<RedisFinding[]> {
  let masters;
  try {
    masters = await mastersMemory(client);
  } catch (err) {
    return [
      {
        topic: 'maxmemory',
        status: 'unknown',
        message:
          'Could not check Redis maxmemory (INFO refused): make sure it is set, with noeviction',
        err: errorMessage(err),
      },
    ];
  }
  const unbounded = masters.some((m) => m.max === 0);
  const smallest = Math.min(...masters.map((m) => m.max));
  const maxmemory: RedisFinding = unbounded
    ? {
        topic: 'maxmemory',
        status: 'advice',
        message: 'Redis has no maxmemory: offline storage is unbounded',
        fix: 'Set maxmemory (and maxmemory-policy noeviction) on the Redis server.',
      }
    : {
        topic: 'maxmemory',
        status: 'ok',
        message: `maxmemory ${smallest} bytes (smallest master)`,
      };
  const evicting = masters.find((m) => m.policy !== 'noeviction');
  const eviction: RedisFinding = evicting
    ? {
        topic: 'eviction',
        status: 'volatility',
        message: `Redis may evict queued messages (maxmemory-policy ${evicting.policy})`,
        fix: 'Set maxmemory-policy noeviction on the Redis server.',
      }
    : { topic: 'eviction', status: 'ok', message: 'maxmemory-policy noeviction' };
  return [maxmemory, eviction];
}
