// Creating and watching ioredis clients: a single Redis or a Redis Cluster, reconnecting forever
// with capped backoff, failing fast while disconnected, never crashing on connection errors.
import { Cluster, Redis, type ClusterNode } from 'ioredis';
import type { Logger } from '../../log.js';

export type RedisClient = Redis | Cluster;

export interface RedisEndpoint {
  url?: string;
  /** Seed nodes of a Redis Cluster, "host:port". */
  cluster?: string[];
}

const CONNECT_TIMEOUT_MS = 2000;
const COMMAND_TIMEOUT_MS = 5000;
const WARN_EVERY_MS = 5000;

/** Reconnect delay: 100 ms, 200 ms, … capped at 2 s, forever. */
export const reconnectDelay = (attempt: number): number =>
  Math.min(50 * 2 ** Math.min(attempt, 6), 2000);

/**
 * `subscriber`: a dedicated pub/sub connection (sharded pub/sub on a cluster). Commands fail at
 * once while disconnected (no offline queue, no retry of in-flight commands) so the relay answers
 * 503 instead of hanging; subscriptions are restored on reconnection by ioredis.
 */
export function createClient(endpoint: RedisEndpoint, subscriber: boolean): RedisClient {
  const connection = {
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    ...(subscriber ? {} : { commandTimeout: COMMAND_TIMEOUT_MS }),
  };
  if (endpoint.cluster?.length) {
    return new Cluster(endpoint.cluster.map(parseNode), {
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: reconnectDelay,
      shardedSubscribers: subscriber,
      redisOptions: connection,
    });
  }
  if (!endpoint.url) throw new Error('A Redis URL or Redis Cluster nodes are required');
  return new Redis(endpoint.url.replace(/^tcp:\/\//i, 'redis://'), {
    ...connection,
    lazyConnect: true,
    enableOfflineQueue: false,
    retryStrategy: reconnectDelay,
  });
}

function parseNode(node: string): ClusterNode {
  const colon = node.lastIndexOf(':');
  if (colon < 0) return { host: node, port: 6379 };
  return {
    host: node.slice(0, colon).replace(/^\[|\]$/g, ''),
    port: Number(node.slice(colon + 1)),
  };
}

/** Logs a lost connection and connection errors at warn (errors at most once per few seconds). */
export function watchConnection(client: RedisClient, name: string, logger: Logger): void {
  let last = 0;
  const warn = (err: unknown): void => {
    const now = Date.now();
    if (now - last < WARN_EVERY_MS) return;
    last = now;
    logger.warn({ err: errorMessage(err) }, `Redis ${name} connection error (retrying)`);
  };
  client.on('error', warn);
  client.on('node error', warn);
  let up = false;
  client.on('ready', () => (up = true));
  client.on('close', () => {
    if (up) logger.warn(`Redis ${name} connection lost (reconnecting)`);
    up = false;
  });
}

/** Resolves on the client's next 'ready' (or now if ready); rejects when it is closed for good. */
export function untilReady(client: RedisClient): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = (): void => {
      client.off('end', onEnd);
      resolve();
    };
    const onEnd = (): void => {
      client.off('ready', onReady);
      reject(new Error('Redis connection closed'));
    };
    client.once('ready', onReady);
    client.once('end', onEnd);
  });
}

export async function closeClient(client: RedisClient): Promise<void> {
  if (client.status === 'ready') await client.quit().catch(() => undefined);
  client.disconnect();
}

/** The persistence modes turned on in any node ('RDB', 'AOF'); throws when CONFIG is refused. */
export async function persistenceModes(client: RedisClient): Promise<string[]> {
  const nodes = client instanceof Cluster ? client.nodes('all') : [client];
  const modes = new Set<string>();
  for (const node of nodes) {
    const [, save] = (await node.config('GET', 'save')) as string[];
    const [, appendonly] = (await node.config('GET', 'appendonly')) as string[];
    if (save === undefined || appendonly === undefined)
      throw new Error('CONFIG GET returned nothing');
    if (save.trim() !== '') modes.add(`RDB (save "${save}")`);
    if (appendonly === 'yes') modes.add('AOF (appendonly yes)');
  }
  return [...modes];
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
