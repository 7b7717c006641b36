// Redis Sentinel, as the Sentinels themselves see it, each asked directly: how many answer, the
// master they name for ENTROPY_REDIS_SENTINEL_NAME, the replicas they could promote, and whether
// enough of them answer to reach their quorum (without it a failed master is never replaced).
// The master itself is checked like any Redis (redis.ts), through the client the relay would use.
import { Redis } from 'ioredis';
import type { Config } from '../config.js';
import { parseNode } from '../store/redis/connection.js';
import { withTimeout } from '../time.js';
import { errorText, fail, ok, warn, type CheckResult } from './check.js';

const PROBE_TIMEOUT_MS = 5000;
/** Flags of a master or replica a Sentinel considers unusable. */
const DOWN_FLAGS = ['s_down', 'o_down', 'disconnected'];

interface Instance {
  address: string;
  flags: string[];
  quorum: number;
}

/** What one Sentinel said: unreachable (`error`), not watching the name (no `master`), or both. */
export interface SentinelView {
  node: string;
  error?: string;
  master?: Instance;
  replicas?: Instance[];
}

/** SENTINEL MASTER / SENTINEL REPLICAS entries: flat [field, value, field, value, …] arrays. */
export function parseSentinelEntry(entry: unknown): Instance {
  const fields = new Map<string, string>();
  const flat = Array.isArray(entry) ? entry.map(String) : [];
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!);
  return {
    address: `${fields.get('ip') ?? '?'}:${fields.get('port') ?? '?'}`,
    flags: (fields.get('flags') ?? '').split(',').filter((f) => f !== ''),
    quorum: Number(fields.get('quorum') ?? 0),
  };
}

const isDown = (instance: Instance) => instance.flags.some((f) => DOWN_FLAGS.includes(f));

async function askSentinel(node: string, name: string, password?: string): Promise<SentinelView> {
  const sentinel = new Redis({
    ...parseNode(node),
    ...(password === undefined ? {} : { password }),
    connectTimeout: PROBE_TIMEOUT_MS,
    commandTimeout: PROBE_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    lazyConnect: true,
  });
  // connect() rejects with "Connection is closed."; the error event says why (ECONNREFUSED, …).
  let cause: unknown;
  sentinel.on('error', (err) => (cause ??= err));
  try {
    await withTimeout(sentinel.connect(), PROBE_TIMEOUT_MS, () => {
      throw new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`);
    });
  } catch (err) {
    sentinel.disconnect();
    return { node, error: errorText(cause ?? err) };
  }
  try {
    const master = parseSentinelEntry(await sentinel.call('SENTINEL', 'MASTER', name));
    const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', name)) as unknown[];
    return { node, master, replicas: replicas.map(parseSentinelEntry) };
  } catch (err) {
    // "ERR No such master with that name", or a Sentinel that refuses us (NOAUTH).
    const text = errorText(err);
    return /no such master/i.test(text) ? { node } : { node, error: text };
  } finally {
    sentinel.disconnect();
  }
}

export async function sentinelChecks(config: Config): Promise<CheckResult[]> {
  const name = config.redisSentinelName;
  const views = await Promise.all(
    config.redisSentinels.map((node) => askSentinel(node, name, config.redisSentinelPassword)),
  );
  return sentinelVerdicts(name, views);
}

/** The verdicts from what every configured Sentinel said (pure: tested on made-up views). */
export function sentinelVerdicts(name: string, views: SentinelView[]): CheckResult[] {
  const total = views.length;
  const silent = views.filter((v) => v.error !== undefined);
  const answered = total - silent.length;
  const why = silent.map((v) => `${v.node}: ${v.error}`).join('; ');
  if (answered === 0)
    return [fail('redis.sentinel.reach', `none of ${total} Sentinels answered (${why})`)];
  const results = [
    answered < total
      ? warn('redis.sentinel.reach', `${answered} of ${total} Sentinels answered (${why})`)
      : ok('redis.sentinel.reach', `${answered} of ${total} Sentinels answered`),
  ];

  const watching = views.filter((v) => v.master !== undefined);
  if (watching.length === 0) {
    results.push(
      fail(
        'redis.sentinel.master',
        `no Sentinel watches a master named "${name}": check ENTROPY_REDIS_SENTINEL_NAME ` +
          `against "sentinel monitor" in sentinel.conf`,
      ),
    );
    return results;
  }
  results.push(masterVerdict(name, watching, answered));

  // The replicas of the Sentinel that knows most of them (they learn of replicas one by one).
  const replicas = watching
    .map((v) => v.replicas ?? [])
    .reduce((most, list) => (list.length > most.length ? list : most));
  const usable = replicas.filter((r) => !isDown(r));
  const down = replicas.length - usable.length;
  const downNote = down > 0 ? `; ${down} more down` : '';
  results.push(
    usable.length === 0
      ? warn(
          'redis.sentinel.replicas',
          `no replica to promote${downNote}: losing the master loses every queued message and ` +
            `session, and the relay refuses until it is back`,
        )
      : ok(
          'redis.sentinel.replicas',
          `${usable.length} replica${usable.length === 1 ? '' : 's'} to promote ` +
            `(${usable.map((r) => r.address).join(', ')})${downNote}`,
        ),
  );

  const quorum = Math.max(...watching.map((v) => v.master!.quorum));
  const detail = `quorum ${quorum}, ${watching.length} of ${total} Sentinels answer for "${name}"`;
  results.push(
    watching.length < quorum
      ? fail(
          'redis.sentinel.quorum',
          `${detail}: too few to agree that the master is down, so it would never be replaced`,
        )
      : ok('redis.sentinel.quorum', detail),
  );
  return results;
}

function masterVerdict(name: string, watching: SentinelView[], answered: number): CheckResult {
  const addresses = [...new Set(watching.map((v) => v.master!.address))];
  if (addresses.length > 1) {
    const named = watching.map((v) => `${v.node} names ${v.master!.address}`).join(', ');
    return warn(
      'redis.sentinel.master',
      `the Sentinels disagree on "${name}" (${named}): a failover in progress?`,
    );
  }
  const master = watching[0]!.master!;
  if (isDown(master))
    return fail(
      'redis.sentinel.master',
      `"${name}" is ${master.address}, which the Sentinels see as down (${master.flags.join(',')})`,
    );
  const unaware = answered - watching.length;
  if (unaware > 0)
    return warn(
      'redis.sentinel.master',
      `"${name}" is ${master.address}, but ${unaware} of the Sentinels that answered do not watch it`,
    );
  return ok('redis.sentinel.master', `"${name}" is ${master.address} (master)`);
}
