// Reads a test Redis directly, to prove what the relay left in it.
import { Redis } from 'ioredis';

/** Every key of the Redis on `port` whose name contains `fragment`. */
export async function redisKeysContaining(port: number, fragment: string): Promise<string[]> {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  await redis.connect();
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `*${fragment}*`, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return keys.sort();
  } finally {
    redis.disconnect();
  }
}
