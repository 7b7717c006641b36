// The relay as a process: start-up through the CLI, graceful shutdown on SIGTERM with an
// in-flight request, and a Redis outage that the relay survives.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { testRedisStore } from './helpers/backends.js';
import { captureLogs, onLines } from './helpers/logs.js';
import { startRedisServer, type TestRedisServer } from './helpers/redis-server.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { waitFor } from './helpers/wait.js';

const CLI = new URL('../src/cli.ts', import.meta.url).pathname;

interface Spawned {
  child: ChildProcess;
  lines: string[];
  port: number;
  exited: Promise<number | null>;
}

async function spawnRelay(env: Record<string, string>): Promise<Spawned> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve'], {
    env: {
      PATH: process.env.PATH,
      ENTROPY_PORT: '0',
      ENTROPY_ADDR: '127.0.0.1',
      ENTROPY_METRICS_ADDR: '127.0.0.1:0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    onLines(child.stdout!, (line) => {
      lines.push(line);
      const parsed = JSON.parse(line);
      if (parsed.msg === 'Entropy relay listening') resolve(parsed.port);
    });
    child.stderr!.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
    void exited.then((code) => reject(new Error(`relay exited with ${code}: ${lines.join('\n')}`)));
  });
  return { child, lines, port, exited };
}

describe('process lifecycle', () => {
  it('finishes an in-flight request on SIGTERM, then exits 0', async () => {
    const relay = await spawnRelay({ ENTROPY_TLS: 'off' });
    const body = JSON.stringify({ nickname: 'x' });
    const response = new Promise<{ status: number; length: number }>((resolve, reject) => {
      const req = request(
        {
          port: relay.port,
          host: '127.0.0.1',
          method: 'POST',
          path: '/nickname/register',
          // The server answers 100 Continue once it has the request head.
          headers: {
            'content-type': 'application/json',
            'content-length': body.length,
            expect: '100-continue',
          },
        },
        (res) => {
          let length = 0;
          res.on('data', (c: Buffer) => (length += c.length));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, length }));
        },
      );
      req.on('error', reject);
      // Half the body once the request is in flight; the rest once the relay is shutting down.
      req.once('continue', () => {
        req.write(body.slice(0, 5));
        relay.child.kill('SIGTERM');
        waitFor(() => relay.lines.some((l) => l.includes('"shutting down"')), {
          what: 'the relay shuts down',
        }).then(() => req.end(body.slice(5)), reject);
      });
    });
    const answered = await response;
    assert.equal(answered.status, 400, 'the in-flight request was answered (invalid_nickname)');
    assert.equal(answered.length, 1536);
    assert.equal(await relay.exited, 0);
    assert.ok(relay.lines.some((l) => l.includes('"stopped"')));
  });

  it('serves TLS 1.3 with a self-signed certificate by default and logs its fingerprint', async () => {
    const relay = await spawnRelay({});
    try {
      const logged = relay.lines.map((l) => JSON.parse(l)).find((l) => l.fingerprint);
      assert.match(logged.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    } finally {
      relay.child.kill('SIGINT');
      assert.equal(await relay.exited, 0);
    }
  });

  it('warns at start-up in compat mode and with TLS off', async () => {
    const relay = await spawnRelay({ ENTROPY_TLS: 'off', ENTROPY_COMPAT: 'v1' });
    relay.child.kill('SIGTERM');
    await relay.exited;
    const warnings = relay.lines.filter((l) => l.includes('"level":"warn"')).join('\n');
    assert.match(warnings, /not key-bound/i);
    assert.match(warnings, /TLS is OFF/);
  });
});

describe('Redis outage', () => {
  let redis: TestRedisServer;
  let t: TestRelay;
  before(async () => {
    redis = await startRedisServer();
    const store = testRedisStore({ url: redis.url, logger: captureLogs('info').logger });
    t = await startTestRelay({ tls: true }, { store });
  });
  after(async () => {
    await t.close();
    await redis.stop();
  });

  it('answers /ready 503 while Redis is down and 200 once it is back, without crashing', async () => {
    assert.equal((await t.request('/ready')).status, 200);
    await redis.stop();
    const down = await t.request('/ready');
    assert.equal(down.status, 503);
    assert.equal(down.json.code, 'storage_unavailable');
    assert.equal(down.body.length, 1536);
    // Health stays up, reads fail with 503 instead of hanging, writes too.
    assert.equal((await t.request('/health')).status, 200);
    const fetch = await t.request('/keys/fetch?user=' + 'a'.repeat(64));
    assert.equal(fetch.status, 503);
    assert.equal(fetch.json.code, 'storage_unavailable');
    await redis.start();
    let ready = 0;
    await waitFor(async () => (ready = (await t.request('/ready')).status) === 200, {
      what: '/ready answers 200',
    });
    assert.equal(ready, 200);
    assert.equal((await t.request('/keys/fetch?user=' + 'a'.repeat(64))).status, 404);
  });
});
