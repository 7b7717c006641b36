// Redis: reachable (in the topology the configuration names), its version, persistence off,
// maxmemory set with noeviction (the same findings the relay logs at start-up), and what the
// topology itself needs. A topology is one entry of TOPOLOGIES, saying when it applies and what
// else to check; the client is made as the relay makes its own (createClient, redisEndpoint).
import { Cluster } from 'ioredis';
import type { Config } from '../config.js';
import { redisEndpoint } from '../store/index.js';
import {
  closeClient,
  createClient,
  untilReady,
  type RedisClient,
} from '../store/redis/connection.js';
import { inspectRedisServer, type RedisFinding } from '../store/redis/startup-checks.js';
import { withTimeout } from '../time.js';
import { errorText, fail, ok, warn, type CheckResult } from './check.js';
import { sentinelChecks } from './sentinel.js';

const CONNECT_TIMEOUT_MS = 5000;
const MIN_MAJOR_VERSION = 7;
const CLUSTER_SLOTS = 16384;

export interface Topology {
  name: string;
  configured(config: Config): boolean;
  /** Where it connects, for the report (no password). */
  describe(config: Config): string;
  /** What this topology needs beyond what every Redis is checked for. */
  checks(client: RedisClient, config: Config): Promise<CheckResult[]>;
  /** When no client could be made ready: what the nodes themselves say about why. */
  diagnose?(config: Config): Promise<CheckResult[]>;
}

const standalone: Topology = {
  name: 'standalone',
  configured: (config) => config.redisUrl !== undefined,
  describe: (config) => redactUrl(config.redisUrl ?? ''),
  checks: standaloneChecks,
};

const cluster: Topology = {
  name: 'cluster',
  configured: (config) => config.redisCluster.length > 0,
  describe: (config) => `Redis Cluster seeds ${config.redisCluster.join(',')}`,
  checks: clusterChecks,
  diagnose: (config) => diagnoseCluster(config.redisCluster),
};

/** The master the Sentinels name: checked as a standalone master, and the Sentinels asked. */
const sentinel: Topology = {
  name: 'sentinel',
  configured: (config) => config.redisSentinels.length > 0,
  describe: (config) =>
    `master "${config.redisSentinelName}" of Sentinels ${config.redisSentinels.join(',')}`,
  checks: async (client, config) => [
    ...(await standaloneChecks(client)),
    ...(await sentinelChecks(config)),
  ],
  // The relay's client could not reach a master: what the Sentinels say about it.
  diagnose: sentinelChecks,
};

export const TOPOLOGIES: readonly Topology[] = [cluster, sentinel, standalone];

export function topologyOf(config: Config): Topology | undefined {
  return TOPOLOGIES.find((t) => t.configured(config));
}

/** A connected client, or the FAIL lines saying why there is none. */
export async function connectRedis(
  topology: Topology,
  config: Config,
): Promise<{ client: RedisClient; results: CheckResult[] } | { results: CheckResult[] }> {
  const where = topology.describe(config);
  const endpoint = redisEndpoint(config);
  if (endpoint === undefined) throw new Error('connectRedis: no Redis in this configuration');
  const client = createClient(endpoint, false);
  let lastError = '';
  const remember = (err: unknown): void => {
    lastError = errorText(err);
  };
  client.on('error', remember);
  client.on('node error', remember);
  // The first connection error settles it: the relay would retry, the doctor reports.
  const refused = new Promise<never>((_, reject) => client.once('error', reject));
  refused.catch(() => undefined);
  client.connect().catch(remember);
  const started = Date.now();
  try {
    await withTimeout(Promise.race([untilReady(client), refused]), CONNECT_TIMEOUT_MS, () => {
      throw new Error(lastError || `no answer within ${CONNECT_TIMEOUT_MS / 1000} s`);
    });
    await client.ping();
  } catch (err) {
    await closeClient(client);
    const why = [fail('redis.reach', `${where}: not ready (${errorText(err)})`)];
    return { results: [...why, ...((await topology.diagnose?.(config)) ?? [])] };
  }
  const ms = Date.now() - started;
  return {
    client,
    results: [ok('redis.reach', `${where} (${topology.name}) answered in ${ms} ms`)],
  };
}

/** Everything checked on a reachable Redis. */
export async function redisChecks(
  topology: Topology,
  client: RedisClient,
  config: Config,
): Promise<CheckResult[]> {
  const results = [await versionCheck(client)];
  results.push(...(await inspectRedisServer(client)).map(fromFinding));
  try {
    results.push(...(await topology.checks(client, config)));
  } catch (err) {
    results.push(
      warn(`redis.${topology.name}`, `could not check the topology (${errorText(err)})`),
    );
  }
  return results;
}

function fromFinding(finding: RedisFinding): CheckResult {
  const check = `redis.${finding.topic}`;
  const text = finding.fix ? `${finding.message}. ${finding.fix}` : finding.message;
  switch (finding.status) {
    case 'ok':
      return ok(check, text);
    case 'volatility':
      return fail(check, text);
    case 'advice':
      return warn(check, text);
    case 'unknown':
      return warn(check, `${text} (${finding.err ?? 'refused'})`);
  }
}

function nodesOf(client: RedisClient, role: 'all' | 'master'): RedisClient[] {
  return client instanceof Cluster ? client.nodes(role) : [client];
}

export function infoField(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

async function versionCheck(client: RedisClient): Promise<CheckResult> {
  let versions: string[];
  try {
    versions = await Promise.all(
      nodesOf(client, 'all').map(
        async (node) => infoField(await node.info('server'), 'redis_version') ?? '?',
      ),
    );
  } catch (err) {
    return warn('redis.version', `could not read INFO server (${errorText(err)})`);
  }
  return versionVerdict(versions);
}

/** Redis 7 or newer on every node (sharded pub/sub, the scripts' commands). */
export function versionVerdict(versions: string[]): CheckResult {
  const old = versions.filter((v) => !(Number(v.split('.')[0]) >= MIN_MAJOR_VERSION));
  const all = [...new Set(versions)].join(', ');
  if (old.length > 0)
    return fail(
      'redis.version',
      `Redis ${old.join(', ')}: the relay needs Redis ${MIN_MAJOR_VERSION}.0 or newer`,
    );
  return ok('redis.version', `Redis ${all}`);
}

async function standaloneChecks(client: RedisClient): Promise<CheckResult[]> {
  const [replication, clusterInfo] = await Promise.all([
    client.info('replication'),
    client.info('cluster'),
  ]);
  const results: CheckResult[] = [];
  if (infoField(clusterInfo, 'cluster_enabled') === '1') {
    results.push(
      fail(
        'redis.topology',
        'this Redis is a Cluster node: name its nodes with ENTROPY_REDIS_CLUSTER, not ENTROPY_REDIS_URL',
      ),
    );
  }
  const role = infoField(replication, 'role');
  if (role !== 'master') {
    results.push(fail('redis.role', `this Redis is a ${role ?? 'non-master'}: it refuses writes`));
  } else {
    const replicas = Number(infoField(replication, 'connected_slaves') ?? 0);
    results.push(ok('redis.role', `master with ${replicas} replica${replicas === 1 ? '' : 's'}`));
  }
  return results;
}

interface ClusterNode {
  id: string;
  address: string;
  master: boolean;
  masterId: string | undefined;
  failed: boolean;
}

export function parseClusterNodes(text: string): ClusterNode[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id = '', address = '', flags = '', masterId = '-'] = line.split(' ');
      const flagList = flags.split(',');
      return {
        id,
        address: address.split('@')[0] ?? address,
        master: flagList.includes('master'),
        masterId: masterId === '-' ? undefined : masterId,
        failed: flagList.includes('fail') || flagList.includes('fail?'),
      };
    });
}

async function clusterChecks(client: RedisClient): Promise<CheckResult[]> {
  const [info, nodesText] = (await Promise.all([
    client.call('CLUSTER', 'INFO'),
    client.call('CLUSTER', 'NODES'),
  ])) as [string, string];
  const results: CheckResult[] = [slotsVerdict(info)];
  const nodes = parseClusterNodes(nodesText);
  const masters = nodes.filter((n) => n.master && !n.failed);
  const alone = masters.filter(
    (m) => !nodes.some((n) => !n.master && !n.failed && n.masterId === m.id),
  );
  if (alone.length === 0) {
    results.push(
      ok('redis.cluster.replicas', `every one of ${masters.length} masters has a replica`),
    );
  } else {
    results.push(
      warn(
        'redis.cluster.replicas',
        `${alone.length} of ${masters.length} masters have no replica (${alone
          .map((m) => m.address)
          .join(', ')}): losing one loses its slots' queued messages and sessions`,
      ),
    );
  }
  return results;
}

/** From CLUSTER INFO: every slot assigned to a master that serves it. */
export function slotsVerdict(info: string, node = ''): CheckResult {
  const state = infoField(info, 'cluster_state');
  const assigned = Number(infoField(info, 'cluster_slots_assigned') ?? 0);
  const served = Number(infoField(info, 'cluster_slots_ok') ?? 0);
  if (state === 'ok' && assigned === CLUSTER_SLOTS && served === CLUSTER_SLOTS)
    return ok('redis.cluster.slots', `all ${CLUSTER_SLOTS} slots covered, cluster_state ok`);
  return fail(
    'redis.cluster.slots',
    `${node}cluster_state ${state ?? '?'}: ${assigned} of ${CLUSTER_SLOTS} slots assigned, ` +
      `${served} served; a cluster refuses every command until all are`,
  );
}

/** Asks each seed node directly (a cluster client waits for cluster_state ok). */
async function diagnoseCluster(seeds: string[]): Promise<CheckResult[]> {
  for (const seed of seeds) {
    const node = createClient({ url: `redis://${seed}` }, false);
    node.on('error', () => undefined);
    node.connect().catch(() => undefined);
    try {
      const ready = await withTimeout(
        untilReady(node).then(() => true),
        CONNECT_TIMEOUT_MS,
        () => false,
      );
      if (!ready) continue;
      const info = (await node.call('CLUSTER', 'INFO')) as string;
      return [slotsVerdict(info, `${seed} says `)];
    } catch (err) {
      return [fail('redis.cluster.slots', `${seed}: CLUSTER INFO refused (${errorText(err)})`)];
    } finally {
      await closeClient(node);
    }
  }
  return [];
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}
