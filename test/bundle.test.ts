// The relay as it ships: `npm start` and the package's `bin` run dist/cli.js, the bundle that
// scripts/build-server.mjs makes (every other test runs the TypeScript sources). Built first when
// stale (scripts/ensure-build.mjs, as `npm start` does), then started with two workers on a test
// Redis: the bundled worker, the Lua scripts next to the bundle, a bundle upload and a message
// between two sessions through it, and a clean SIGTERM.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generateIdentity } from '../src/client/identity.js';
import { RelayClient } from '../src/client/rest-client.js';
import { RelaySession } from '../src/client/ws-client.js';
import { onLines } from './helpers/logs.js';
import { startRedisServer, type TestRedisServer } from './helpers/redis-server.js';
import { nextEvent } from './helpers/wait.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('the bundled relay (dist/cli.js)', () => {
  let redis: TestRedisServer;
  before(async () => {
    const build = spawnSync(process.execPath, ['scripts/ensure-build.mjs'], {
      cwd: ROOT,
      stdio: 'inherit',
      timeout: 600_000,
    });
    assert.equal(build.status, 0, 'dist/ built');
    redis = await startRedisServer();
  });
  after(() => redis?.stop());

  it('serves with two workers on Redis: uploads, relays, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, ['dist/cli.js', 'serve', '--workers', '2'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        ENTROPY_PORT: '0',
        ENTROPY_ADDR: '127.0.0.1',
        ENTROPY_METRICS_ADDR: 'off',
        ENTROPY_TLS: 'off',
        ENTROPY_POW_BASE: '2',
        ENTROPY_REDIS_URL: redis.url,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        onLines(child.stdout!, (line) => {
          lines.push(line);
          const entry = JSON.parse(line) as { msg?: string; port?: number };
          if (entry.msg === 'Entropy relay listening') resolve(entry.port!);
        });
        child.stderr!.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
        void exited.then((code) => reject(new Error(`exited with ${code}:\n${lines.join('\n')}`)));
      });
      const url = `http://127.0.0.1:${port}`;

      const alice = generateIdentity();
      const bob = generateIdentity();
      const rest = new RelayClient({ url });
      assert.deepEqual(await rest.uploadBundle(bob, { preKeys: 2 }), {
        status: 'success',
        prekeys: 2,
      });
      const a = new RelaySession({ url, identity: alice });
      const b = new RelaySession({ url, identity: bob });
      try {
        await Promise.all([a.connect(), b.connect()]);
        const got = nextEvent(b, 'message');
        const status = await a.send(bob.identityHash, 'through the bundle');
        assert.ok(['delivered', 'queued'].includes(status.status), JSON.stringify(status));
        const [message] = (await got) as [{ envelope: string }];
        assert.equal(message.envelope, 'through the bundle');
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited, 0, lines.join('\n'));
    }
  });
});
