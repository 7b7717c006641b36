// What the Redis server must be like for the relay to keep its promises: no persistence (relay
// data never reaches a disk) and no eviction (queued messages are never dropped). With
// requireVolatile a violation stops the start; otherwise it is a warning.
import type { Logger } from '../../log.js';
import { errorMessage, persistenceModes, type RedisClient } from './connection.js';
import { mastersMemory } from './memory-watch.js';

export async function checkRedisServer(
  client: RedisClient,
  requireVolatile: boolean,
  logger: Logger,
): Promise<void> {
  await checkPersistence(client, requireVolatile, logger);
  await checkEviction(client, requireVolatile, logger);
}

async function checkPersistence(
  client: RedisClient,
  requireVolatile: boolean,
  logger: Logger,
): Promise<void> {
  let modes: string[];
  try {
    modes = await persistenceModes(client);
  } catch (err) {
    logger.warn(
      { err: errorMessage(err) },
      'Could not check Redis persistence (CONFIG GET refused): make sure RDB and AOF are off',
    );
    return;
  }
  if (modes.length === 0) return;
  const problem = `Redis persistence is on (${modes.join(', ')}): relay data can reach the disk`;
  if (requireVolatile) {
    throw new Error(
      `${problem}. Refusing to start because a volatile Redis is required; ` +
        'turn off RDB (save "") and AOF (appendonly no) on the Redis server.',
    );
  }
  logger.warn(`${problem}. Turn off RDB (save "") and AOF (appendonly no).`);
}

/** maxmemory bounds offline storage; only noeviction keeps Redis from dropping queued data. */
async function checkEviction(
  client: RedisClient,
  requireVolatile: boolean,
  logger: Logger,
): Promise<void> {
  let masters;
  try {
    masters = await mastersMemory(client);
  } catch (err) {
    logger.warn(
      { err: errorMessage(err) },
      'Could not check Redis maxmemory (INFO refused): make sure it is set, with noeviction',
    );
    return;
  }
  if (masters.some((m) => m.max === 0)) {
    logger.warn(
      'Redis has no maxmemory: offline storage is unbounded. Set maxmemory (and ' +
        'maxmemory-policy noeviction) on the Redis server.',
    );
  }
  const evicting = masters.find((m) => m.policy !== 'noeviction');
  if (evicting === undefined) return;
  const problem = `Redis may evict queued messages (maxmemory-policy ${evicting.policy})`;
  if (requireVolatile) {
    throw new Error(
      `${problem}. Refusing to start because a volatile Redis is required; ` +
        'set maxmemory-policy noeviction on the Redis server.',
    );
  }
  logger.warn(`${problem}: set maxmemory-policy noeviction.`);
}
