// A relay whose Redis is not there yet listens at once, answers 503 to whatever needs the store
// and works without a restart once Redis comes up; a Redis it must refuse (persistence with
// ENTROPY_REQUIRE_VOLATILE) is a fatal condition, and the CLI exits 1 on it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { generateIdentity } from '../src/client/identity.js';
import { PADDED_SIZE } from '../src/normalize/padding.js';
import {
  startRedisServer,
  unstartedRedisServer,
  type TestRedisServer,
} from './helpers/redis-server.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { RawPeer, authedPeer, withBundle } from './helpers/ws.js';

const CLI = new URL('../src/cli.ts', import.meta.url).pathname;
const LIMITS = { powLimit: 1000, limitGlobal: 1000, jitterMs: [0, 2] as [number, number] };

async function expectUnavailable(t: TestRelay, path: string): Promise<void> {
  const response = await t.request(path);
  assert.equal(response.status, 503, path);
  assert.equal(response.json.code, 'storage_unavailable', path);
  assert.equal(response.body.length, PADDED_SIZE, path);
}

describe('starting while Redis is down', () => {
  let redis: TestRedisServer;
  let t: TestRelay;
  let ready = false;
  before(async () => {
    redis = await unstartedRedisServer();
    t = await startTestRelay({ ...LIMITS, redisUrl: redis.url }, { waitReady: false });
    void t.relay.ready.then(() => (ready = true));
  });
  after(async () => {
    await t.close();
    await redis.stop();
  });

  it('listens at once: /health 200; /ready, PoW, REST and WebSocket auth 503', async () => {
    const health = await t.request('/health');
    assert.equal(health.status, 200);
    assert.equal(health.json.storage, 'redis');
    await expectUnavailable(t, '/ready');
    await expectUnavailable(t, '/pow/challenge');
    await expectUnavailable(t, `/keys/fetch?user=${'a'.repeat(64)}`);
    await expectUnavailable(t, '/nickname/lookup?nick=someone');

    const peer = await RawPeer.open(t.relay);
    const me = generateIdentity();
    peer.send({
      type: 'auth',
      payload: { identity_hash: me.identityHash, seed: 'a'.repeat(64), nonce: 1 },
    });
    const error = await peer.nextOfType('error');
    assert.equal(error.code, 'storage_unavailable');
    assert.equal((await peer.closed).code, 1011);
    assert.equal(ready, false);
  });

  it('once Redis is up, serves everything without a restart', async () => {
    await redis.start();
    await t.relay.ready;
    assert.equal((await t.request('/ready')).status, 200);

    const [alice, bob, carol] = [generateIdentity(), generateIdentity(), generateIdentity()];
    await withBundle(t.relay, bob);
    await withBundle(t.relay, carol);
    const a = await authedPeer(t.relay, alice);
    const b = await authedPeer(t.relay, bob);
    a.peer.send({ type: 'relay', to: bob.identityHash, envelope: 'live', id: 'm1' });
    assert.equal((await b.peer.nextOfType('msg')).envelope, 'live');
    assert.equal((await a.peer.nextOfType('delivery_status')).status, 'delivered');
    a.peer.send({ type: 'relay', to: carol.identityHash, envelope: 'later', id: 'm2' });
    assert.equal((await a.peer.nextOfType('delivery_status')).status, 'queued');
    const c = await authedPeer(t.relay, carol);
    assert.equal((await c.peer.nextOfType('queued_message')).payload.envelope, 'later');
    await Promise.all([a.peer.close(), b.peer.close(), c.peer.close()]);
  });
});

describe('a persistent Redis with ENTROPY_REQUIRE_VOLATILE', () => {
  it('is a fatal condition: ready rejects, the relay logs it and serves nothing', async () => {
    const redis = await startRedisServer(['--save', '60 1']);
    const t = await startTestRelay(
      { redisUrl: redis.url, requireVolatile: true },
      { waitReady: false },
    );
    try {
      await assert.rejects(t.relay.ready, /persistence is on.*Refusing to start/s);
      const fatal = t.logs.map((l) => JSON.parse(l)).find((l) => l.level === 'fatal');
      assert.ok(fatal, 'a fatal log line');
      assert.match(fatal.err.message, /persistence is on/);
      await expectUnavailable(t, '/ready');
      await expectUnavailable(t, '/pow/challenge');
    } finally {
      await t.close();
      await redis.stop();
    }
  });

  it('makes the CLI exit 1', { timeout: 60_000 }, async () => {
    const redis = await startRedisServer(['--save', '60 1']);
    try {
      const env = {
        PATH: process.env.PATH,
        ENTROPY_PORT: '0',
        ENTROPY_ADDR: '127.0.0.1',
        ENTROPY_TLS: 'off',
        ENTROPY_REDIS_URL: redis.url,
        ENTROPY_REQUIRE_VOLATILE: '1',
      };
      const exit = await promisify(execFile)(process.execPath, ['--import', 'tsx', CLI, 'serve'], {
        env,
        timeout: 45_000,
      }).then(
        () => ({ code: 0, stdout: '' }),
        (err: { code: number | null; stdout: string }) => err,
      );
      assert.equal(exit.code, 1);
      assert.match(exit.stdout, /"level":"fatal".*persistence is on/);
    } finally {
      await redis.stop();
    }
  });
});
