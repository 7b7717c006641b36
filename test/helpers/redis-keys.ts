// Reads a test Redis directly, to prove what the relay left in it.
import assert from 'node:assert/strict';
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

/** A key's value rendered as text, and its absolute expiry (ms; -1: none), which a read or a
 *  refused write leaves alone while a refresh moves it. */
export interface RedisEntry {
  value: string;
  expiresAt: number;
}

/** Every key of `redis` with its value and expiry. */
export async function redisEntries(redis: Redis): Promise<Map<string, RedisEntry>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  const types = await pipelined(redis, keys, (p, key) => p.type(key));
  const reads = await pipelined(redis, keys, (p, key, i) => {
    const type = types[i];
    if (type === 'string') p.get(key);
    else if (type === 'hash') p.hgetall(key);
    else if (type === 'list') p.lrange(key, 0, -1);
    else if (type === 'zset') p.zrange(key, 0, -1, 'WITHSCORES');
    else if (type === 'set') p.smembers(key);
    else p.type(key);
    p.pexpiretime(key);
  });
  const entries = new Map<string, RedisEntry>();
  keys.forEach((key, i) => {
    const value = reads[2 * i];
    // A key that expired between SCAN and the reads is simply gone.
    if (value === null || types[i] === 'none') return;
    entries.set(key, {
      value: typeof value === 'string' ? value : JSON.stringify(value),
      expiresAt: reads[2 * i + 1] as number,
    });
  });
  return entries;
}

async function pipelined(
  redis: Redis,
  keys: string[],
  add: (pipeline: ReturnType<Redis['pipeline']>, key: string, i: number) => void,
): Promise<unknown[]> {
  const pipeline = redis.pipeline();
  keys.forEach((key, i) => add(pipeline, key, i));
  const results = (await pipeline.exec()) ?? [];
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

/** Every key of the Redis on `port` with its value rendered as text. */
export async function dumpRedis(port: number): Promise<Map<string, string>> {
  const redis = new Redis({ port, host: '127.0.0.1' });
  try {
    const entries = await redisEntries(redis);
    return new Map([...entries].map(([key, entry]) => [key, entry.value]));
  } finally {
    redis.disconnect();
  }
}

/** The same keys, values and expiries in both snapshots, except keys `ignore` accepts. */
export function assertSameEntries(
  before: Map<string, RedisEntry>,
  after: Map<string, RedisEntry>,
  ignore: (key: string) => boolean,
  what = 'store',
): void {
  const view = (entries: Map<string, RedisEntry>) =>
    Object.fromEntries(
      [...entries].filter(([key]) => !ignore(key)).sort(([a], [b]) => (a < b ? -1 : 1)),
    );
  assert.deepEqual(view(after), view(before), `${what} changed`);
}
