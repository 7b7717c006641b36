// Creating and watching ioredis clients: a single Redis, a Redis Cluster (masters and their
// replicas) or the master a set of Sentinels names, reconnecting forever with capped backoff,
// failing fast while disconnected, never crashing on connection errors. Failover is ioredis' own:
// Sentinel clients ask the Sentinels for the master again (and listen for +switch-master);
// Cluster clients follow MOVED and refresh the slot map.
import { Cluster, Redis } from 'ioredis';
import type { Logger } from '../../log.js';

export type RedisClient = Redis | Cluster;

export interface SentinelEndpoint {
  /** Sentinels, "host:port". */
  nodes: string[];
  /** The master's name in the Sentinels' configuration. */
  name: string;
  /** The Sentinels' own password (not the master's). */
  password?: string;
}

export interface RedisEndpoint {
  url?: string;
  /** Seed nodes of a Redis Cluster, "host:port". */
  cluster?: string[];
  sentinels?: SentinelEndpoint;
}

const CONNECT_TIMEOUT_MS = 2000;
const COMMAND_TIMEOUT_MS = 5000;
const WARN_EVERY_MS = 5000;
/** A Cluster client re-reads the slot map this often (and at once on MOVED or a lost node). */
const SLOTS_REFRESH_MS = 2000;

/** Reconnect delay: 100 ms, 200 ms, … capped at 2 s, forever. */
export const reconnectDelay = (attempt: number): number =>
  Math.min(50 * 2 ** Math.min(attempt, 6), 2000);

/**
 * `subscriber`: a dedicated pub/sub connection (sharded pub/sub on a cluster). Commands fail at
 * once while disconnected (no offline queue, no retry of in-flight commands) so the relay answers
 * 503 instead of hanging; subscriptions are restored on reconnection by ioredis. Reads go to
 * masters only (a replica may lag: a queue read there could miss a message just queued).
 */
export function createClient(endpoint: RedisEndpoint, subscriber: boolean): RedisClient {
  const connection = {
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    ...(subscriber ? {} : { commandTimeout: COMMAND_TIMEOUT_MS }),
  };
  // Commands issued in one event-loop turn leave in one write (a pipeline): under load many
  // publishes and scripts share a round trip and a system call. Not on a Cluster: ioredis does
  // not follow MOVED/ASK for an auto-pipeline that mixes slots and writes (failover, resharding).
  const enableAutoPipelining = !subscriber;
  if (endpoint.cluster?.length) {
    return new Cluster(endpoint.cluster.map(parseNode), {
      lazyConnect: true,
      enableOfflineQueue: false,
      scaleReads: 'master',
      clusterRetryStrategy: reconnectDelay,
      slotsRefreshInterval: SLOTS_REFRESH_MS,
      shardedSubscribers: subscriber,
      redisOptions: connection,
    });
  }
  if (endpoint.sentinels?.nodes.length) {
    const { nodes, name, password } = endpoint.sentinels;
    return new Redis({
      ...connection,
      sentinels: nodes.map(parseNode),
      name,
      role: 'master',
      ...(password === undefined ? {} : { sentinelPassword: password }),
      // Hears +switch-master from the Sentinels instead of waiting for the old master's socket
      // to close (a frozen master keeps it open).
      failoverDetector: true,
      enableAutoPipelining,
      sentinelRetryStrategy: reconnectDelay,
      lazyConnect: true,
      enableOfflineQueue: false,
      retryStrategy: reconnectDelay,
    });
  }
  if (!endpoint.url) throw new Error('A Redis URL, Redis Cluster nodes or Sentinels are required');
  return new Redis(endpoint.url.replace(/^tcp:\/\//i, 'redis://'), {
    ...connection,
    enableAutoPipelining,
    lazyConnect: true,
    enableOfflineQueue: false,
    retryStrategy: reconnectDelay,
  });
}

/** "host:port" ("[v6]:port"; no port: 6379) as ioredis takes a node. */
export function parseNode(node: string): { host: string; port: number } {
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

/**
 * Connects a client that ended without being closed by us: ioredis gives a connection up for
 * good in a few races (a Sentinel's +switch-master arriving while it reconnects ends it).
 */
export function reviveOnEnd(client: RedisClient, closed: () => boolean, logger: Logger): void {
  client.on('end', () => {
    if (closed()) return;
    logger.warn('Redis connection ended unexpectedly: connecting again');
    setTimeout(() => {
      if (!closed() && client.status === 'end') client.connect().catch(() => undefined);
    }, reconnectDelay(1)).unref();
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

/**
 * The persistence modes turned on in any node ('RDB', 'AOF'): every master (every master of a
 * cluster, or the one master) and every replica each lists in INFO replication, reached with the
 * master's credentials. Throws when CONFIG is refused or a replica cannot be reached.
 */
export async function persistenceModes(client: RedisClient): Promise<string[]> {
  const modes = new Set<string>();
  const check = async (node: Redis, name: string): Promise<void> => {
    const [, save] = (await node.config('GET', 'save')) as string[];
    const [, appendonly] = (await node.config('GET', 'appendonly')) as string[];
    if (save === undefined || appendonly === undefined)
      throw new Error(`CONFIG GET returned nothing (${name})`);
    if (save.trim() !== '') modes.add(`RDB (save "${save}") on ${name}`);
    if (appendonly === 'yes') modes.add(`AOF (appendonly yes) on ${name}`);
  };
  const masters = client instanceof Cluster ? client.nodes('master') : [client];
  for (const master of masters) {
    await check(master, `master ${nodeName(master)}`);
    for (const replica of replicasOf(await master.info('replication'))) {
      const probe = new Redis({
        host: replica.host,
        port: replica.port,
        username: master.options.username,
        password: master.options.password,
        tls: master.options.tls,
        connectTimeout: CONNECT_TIMEOUT_MS,
        commandTimeout: COMMAND_TIMEOUT_MS,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        lazyConnect: true,
      });
      probe.on('error', () => undefined);
      try {
        await check(probe, `replica ${replica.host}:${replica.port}`);
      } finally {
        probe.disconnect();
      }
    }
  }
  return [...modes];
}

/** The replicas a master lists in INFO replication ("slave0:ip=…,port=…,state=online,…"). */
export function replicasOf(info: string): { host: string; port: number }[] {
  const replicas: { host: string; port: number }[] = [];
  for (const [, fields] of info.matchAll(/^slave\d+:(.*)$/gm)) {
    const field = (name: string): string | undefined =>
      new RegExp(`(?:^|,)${name}=([^,]*)`).exec(fields!)?.[1];
    const host = field('ip');
    const port = Number(field('port'));
    if (host && port > 0) replicas.push({ host, port });
  }
  return replicas;
}

function nodeName(node: Redis): string {
  // A Sentinel client's options name no master (its host and port are defaults): the master is
  // where its socket is connected.
  if (node.options.sentinels?.length) {
    const { remoteAddress, remotePort } = node.stream ?? {};
    if (remoteAddress && remotePort) return `${remoteAddress}:${remotePort}`;
  }
  return `${node.options.host ?? '?'}:${node.options.port ?? '?'}`;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
