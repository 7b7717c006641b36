// Starts throwaway redis-server processes for tests: free ports, volatile, own temp dir.
// Tests never touch a Redis they did not start (in particular not the one on port 6379).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { withTimeout } from '../../src/time.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);
const START_TIMEOUT_MS = 10_000;

export interface TestRedisServer {
  port: number;
  url: string;
  /** Kills the server and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop). */
  start(): Promise<void>;
  /** SIGKILL (no shutdown, nothing flushed), and waits for it to exit. */
  kill(): Promise<void>;
}

export interface TestRedisCluster {
  /** "127.0.0.1:port" of every master (at creation). */
  nodes: string[];
  /** Every server, masters and replicas. */
  servers: TestRedisServer[];
  /** The servers that are masters now (asked with ROLE; dead servers are skipped). */
  masters(): Promise<TestRedisServer[]>;
  /** The master serving `key`'s slot now. */
  ownerOf(key: string): Promise<TestRedisServer>;
  /**
   * Starts a killed server again, empty, and makes it a replica of a master that has none (a
   * failed node replaced); resolves once it has synced.
   */
  rejoin(server: TestRedisServer): Promise<void>;
  /** Starts a new node as a replica of `master`; resolves once it has synced. stop() stops it. */
  addReplica(master: TestRedisServer): Promise<TestRedisServer>;
  stop(): Promise<void>;
}

/** Cluster nodes declare a peer failed after this long (replicas then take over). */
export const CLUSTER_NODE_TIMEOUT_MS = 1000;
/** Sentinels declare a master down after this long. */
export const SENTINEL_DOWN_AFTER_MS = 1000;

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    if (port !== 6379 && port !== 0) return port;
  }
}

/** Runs redis-cli against a test server and returns its output. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
  return stdout;
}

async function pingable(port: number): Promise<boolean> {
  try {
    return (await redisCli(port, 'ping')).trim() === 'PONG';
  } catch {
    return false;
  }
}

type ExtraArgs = string[] | ((port: number, dir: string) => string[]);

/** Starts a volatile redis-server on a free port; `extraArgs` are appended (they win). */
export async function startRedisServer(extraArgs: ExtraArgs = []): Promise<TestRedisServer> {
  // Another process may grab the free port before redis-server binds it: try a few ports.
  for (let attempt = 1; ; attempt++) {
    const server = await unstartedRedisServer(extraArgs);
    try {
      await server.start();
      return server;
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}

/** A redis-server on a port free now, not started yet: nothing listens there until start(). */
export function unstartedRedisServer(extraArgs: ExtraArgs = []): Promise<TestRedisServer> {
  return unstartedProcess((port, dir) => {
    const extra = typeof extraArgs === 'function' ? extraArgs(port, dir) : extraArgs;
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly'];
    return { command: 'redis-server', args: [...args, 'no', '--dir', dir, ...extra] };
  });
}

type Launch = (port: number, dir: string) => { command: string; args: string[] };

async function unstartedProcess(launch: Launch): Promise<TestRedisServer> {
  const port = await freePort();
  let dir = '';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  process.setMaxListeners(Math.max(process.getMaxListeners(), 64));

  async function start(): Promise<void> {
    if (child) return;
    dir = mkdtempSync(join(tmpdir(), 'entropy-redis-'));
    const { command, args } = launch(port, dir);
    let output = '';
    const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    proc.stderr.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    let dead = false;
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    void exited.then(() => (dead = true));
    process.once('exit', killOnExit);

    const answers = await waitFor(async () => dead || (await pingable(port)), {
      timeoutMs: START_TIMEOUT_MS,
    }).then(
      () => !dead,
      () => false,
    );
    if (!answers) {
      proc.kill('SIGKILL');
      await exited;
      child = undefined;
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${command} on port ${port} did not start:\n${output}`);
    }
  }

  async function stop(): Promise<void> {
    if (!child) return;
    const proc = child;
    child = undefined;
    process.removeListener('exit', killOnExit);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await withTimeout(exited, 5000, () => {
      proc.kill('SIGKILL');
      return exited;
    });
    rmSync(dir, { recursive: true, force: true });
  }

  async function kill(): Promise<void> {
    if (!child) return;
    const proc = child;
    child = undefined;
    process.removeListener('exit', killOnExit);
    proc.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }

  return { port, url: `redis://127.0.0.1:${port}`, stop, start, kill };
}

/** A redis-server with cluster mode on, in no cluster yet, and the port of its cluster bus. */
export async function startClusterNode(
  extraArgs: string[] = [],
): Promise<{ server: TestRedisServer; busPort: number }> {
  // The bus port is chosen explicitly: port + 10000 may be taken or out of range.
  const busPort = await freePort();
  const server = await startRedisServer((port, dir) => [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    join(dir, `nodes-${port}.conf`),
    '--cluster-port',
    String(busPort),
    '--cluster-node-timeout',
    String(CLUSTER_NODE_TIMEOUT_MS),
    // A replica takes over however long it was cut off from its master.
    '--cluster-replica-validity-factor',
    '0',
    ...extraArgs,
  ]);
  return { server, busPort };
}

/**
 * Starts `masters` masters with `replicas` replicas each, creates the cluster and waits until
 * every node says ok. `extraArgs` go to every node (e.g. maxmemory).
 */
export async function startRedisCluster(
  masters = 3,
  replicas = 0,
  extraArgs: string[] = [],
): Promise<TestRedisCluster> {
  const servers: TestRedisServer[] = [];
  const busPorts = new Map<TestRedisServer, number>();
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const { server, busPort } = await startClusterNode(extraArgs);
      servers.push(server);
      busPorts.set(server, busPort);
    }
    const all = servers.map((s) => `127.0.0.1:${s.port}`);
    await run('redis-cli', [
      '--cluster',
      'create',
      ...all,
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ]);
    await waitFor(async () => (await Promise.all(servers.map(clusterOk))).every(Boolean), {
      timeoutMs: START_TIMEOUT_MS * 2,
      what: 'every node of the Redis Cluster says ok',
    });
    // Replicas must have synced before a test kills their master.
    if (replicas > 0) {
      await waitFor(async () => (await Promise.all(servers.map(replicaSynced))).every(Boolean), {
        timeoutMs: START_TIMEOUT_MS * 2,
        what: 'every replica of the Redis Cluster has synced',
      });
    }
    const current = async () => {
      const roles = await Promise.all(servers.map(roleOf));
      return servers.filter((_, i) => roles[i] === 'master');
    };
    const nodes = (await current()).map((s) => `127.0.0.1:${s.port}`);
    const ownerOf = async (key: string): Promise<TestRedisServer> => {
      for (const master of await current()) {
        // Any other node answers MOVED.
        if (!(await redisCli(master.port, 'exists', key)).includes('MOVED')) return master;
      }
      throw new Error(`No master serves ${key}`);
    };
    /** `server` meets a master of the cluster (by its bus port, which is not port + 10000). */
    const meet = async (server: TestRedisServer): Promise<void> => {
      const peer = (await current()).find((s) => s !== server);
      if (!peer) throw new Error('No other master to meet');
      await redisCli(
        server.port,
        'cluster',
        'meet',
        '127.0.0.1',
        String(peer.port),
        String(busPorts.get(peer)),
      );
    };
    /** `server` replicates the master with this node id, once it knows it; resolves once synced. */
    const replicate = async (server: TestRedisServer, masterId: string): Promise<void> => {
      await waitFor(
        async () => (await redisCli(server.port, 'cluster', 'replicate', masterId)).trim() === 'OK',
        { timeoutMs: START_TIMEOUT_MS, what: `${server.port} replicates ${masterId}` },
      );
      await waitFor(async () => (await replicaSynced(server)) && (await clusterOk(server)), {
        timeoutMs: START_TIMEOUT_MS * 2,
        what: `${server.port} has synced as a replica`,
      });
    };
    const rejoin = async (server: TestRedisServer): Promise<void> => {
      await server.start();
      // The restarted server is an empty master itself: meet one of the others.
      await meet(server);
      let orphan = '';
      await waitFor(
        async () => {
          const lines = (await redisCli(server.port, 'cluster', 'nodes')).trim().split('\n');
          const live = lines.map((l) => l.split(' ')).filter((f) => !f[2]!.includes('fail'));
          const followed = new Set(live.map((f) => f[3]));
          const masters = live.filter((f) => f[2]!.includes('master') && f[8] !== undefined);
          orphan = masters.find((f) => !followed.has(f[0]))?.[0] ?? '';
          return orphan !== '';
        },
        {
          timeoutMs: START_TIMEOUT_MS * 6,
          what: 'the rejoined node sees a master without replica',
        },
      );
      await replicate(server, orphan);
    };
    const addReplica = async (master: TestRedisServer): Promise<TestRedisServer> => {
      const { server, busPort } = await startClusterNode(extraArgs);
      servers.push(server);
      busPorts.set(server, busPort);
      await meet(server);
      await replicate(server, (await redisCli(master.port, 'cluster', 'myid')).trim());
      return server;
    };
    return {
      nodes,
      servers,
      masters: current,
      ownerOf,
      rejoin,
      addReplica,
      stop: () => stopAll(servers),
    };
  } catch (err) {
    await stopAll(servers);
    throw err;
  }
}

async function clusterOk(server: TestRedisServer): Promise<boolean> {
  try {
    return (await redisCli(server.port, 'cluster', 'info')).includes('cluster_state:ok');
  } catch {
    return false;
  }
}

/** 'master', 'slave', or undefined when the server does not answer. */
async function roleOf(server: TestRedisServer): Promise<string | undefined> {
  try {
    return (await redisCli(server.port, 'role')).split('\n')[0]?.trim();
  } catch {
    return undefined;
  }
}

async function replicaSynced(server: TestRedisServer): Promise<boolean> {
  const info = await redisCli(server.port, 'info', 'replication').catch(() => '');
  return info.includes('role:master') || info.includes('master_link_status:up');
}

export interface TestSentinelSetup {
  /** The master's name the Sentinels know. */
  name: string;
  /** "127.0.0.1:port" of every Sentinel. */
  sentinels: string[];
  /** The Sentinel processes, in the order of `sentinels`. */
  watchers: TestRedisServer[];
  /** The master first, then its replicas. */
  servers: TestRedisServer[];
  /** The server that is master now, per the Sentinels. */
  master(): Promise<TestRedisServer>;
  stop(): Promise<void>;
}

/**
 * A master with `replicas` replicas and `sentinels` Sentinels (quorum: a majority) watching it,
 * quick to fail over (down after SENTINEL_DOWN_AFTER_MS). `extraArgs` go to every redis-server.
 */
export async function startRedisSentinels({
  replicas = 1,
  sentinels = 3,
  name = 'mymaster',
  extraArgs = [] as string[],
} = {}): Promise<TestSentinelSetup> {
  const servers: TestRedisServer[] = [];
  const watchers: TestRedisServer[] = [];
  const stop = () => stopAll([...watchers, ...servers]);
  try {
    servers.push(await startRedisServer(extraArgs));
    const masterPort = servers[0]!.port;
    for (let i = 0; i < replicas; i++) {
      servers.push(
        await startRedisServer(['--replicaof', '127.0.0.1', String(masterPort), ...extraArgs]),
      );
    }
    await waitFor(async () => (await Promise.all(servers.map(replicaSynced))).every(Boolean), {
      timeoutMs: START_TIMEOUT_MS * 2,
      what: 'every replica has synced with the master',
    });
    const quorum = Math.floor(sentinels / 2) + 1;
    for (let i = 0; i < sentinels; i++) {
      watchers.push(
        await startProcess((port, dir) => {
          const file = join(dir, 'sentinel.conf');
          writeFileSync(
            file,
            [
              `port ${port}`,
              'bind 127.0.0.1',
              `dir ${dir}`,
              `sentinel monitor ${name} 127.0.0.1 ${masterPort} ${quorum}`,
              `sentinel down-after-milliseconds ${name} ${SENTINEL_DOWN_AFTER_MS}`,
              `sentinel failover-timeout ${name} 5000`,
              `sentinel parallel-syncs ${name} 1`,
              '',
            ].join('\n'),
          );
          return { command: 'redis-sentinel', args: [file] };
        }),
      );
    }
    // Every Sentinel knows the replicas and the other Sentinels before a test kills anything.
    await waitFor(
      async () => {
        const views = await Promise.all(
          watchers.map((w) => redisCli(w.port, 'sentinel', 'master', name).catch(() => '')),
        );
        return views.every((v) => {
          const fields = v.split('\n').map((l) => l.trim());
          const value = (key: string) => Number(fields[fields.indexOf(key) + 1]);
          return value('num-slaves') >= replicas && value('num-other-sentinels') >= sentinels - 1;
        });
      },
      { timeoutMs: START_TIMEOUT_MS * 3, what: 'every Sentinel sees the replicas and its peers' },
    );
    const master = async (): Promise<TestRedisServer> => {
      for (const w of watchers) {
        const reply = await redisCli(w.port, 'sentinel', 'get-master-addr-by-name', name).catch(
          () => '',
        );
        const port = Number(reply.split('\n')[1]);
        const server = servers.find((s) => s.port === port);
        if (server) return server;
      }
      throw new Error('No Sentinel names a master');
    };
    return {
      name,
      sentinels: watchers.map((w) => `127.0.0.1:${w.port}`),
      watchers,
      servers,
      master,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function startProcess(launch: Launch): Promise<TestRedisServer> {
  for (let attempt = 1; ; attempt++) {
    const server = await unstartedProcess(launch);
    try {
      await server.start();
      return server;
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}

async function stopAll(servers: TestRedisServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.stop()));
}
