// Starts throwaway redis-server processes for tests: free ports, volatile, own temp dir.
// Tests never touch a Redis they did not start (in particular not the one on port 6379).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
}

export interface TestRedisCluster {
  /** "127.0.0.1:port" of every master. */
  nodes: string[];
  stop(): Promise<void>;
}

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
export async function unstartedRedisServer(extraArgs: ExtraArgs = []): Promise<TestRedisServer> {
  const port = await freePort();
  let dir = '';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };

  async function start(): Promise<void> {
    if (child) return;
    dir = mkdtempSync(join(tmpdir(), 'entropy-redis-'));
    const extra = typeof extraArgs === 'function' ? extraArgs(port, dir) : extraArgs;
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
    ];
    args.push('--dir', dir, ...extra);
    let output = '';
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
      throw new Error(`redis-server on port ${port} did not start:\n${output}`);
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

  return { port, url: `redis://127.0.0.1:${port}`, stop, start };
}

/** Starts `n` masters (no replicas), creates the cluster and waits until every node says ok. */
export async function startRedisCluster(n = 3): Promise<TestRedisCluster> {
  const servers: TestRedisServer[] = [];
  try {
    for (let i = 0; i < n; i++) {
      // The bus port is chosen explicitly: port + 10000 may be taken or out of range.
      const busPort = await freePort();
      servers.push(
        await startRedisServer((port, dir) => [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-port',
          String(busPort),
        ]),
      );
    }
    const nodes = servers.map((s) => `127.0.0.1:${s.port}`);
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes,
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    const clusterOk = async (server: TestRedisServer) =>
      (await redisCli(server.port, 'cluster', 'info')).includes('cluster_state:ok');
    await waitFor(async () => (await Promise.all(servers.map(clusterOk))).every(Boolean), {
      timeoutMs: START_TIMEOUT_MS * 2,
      what: 'every node of the Redis Cluster says ok',
    });
    return { nodes, stop: () => stopAll(servers) };
  } catch (err) {
    await stopAll(servers);
    throw err;
  }
}

async function stopAll(servers: TestRedisServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.stop()));
}
