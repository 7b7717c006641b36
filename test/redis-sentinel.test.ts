// Redis with Sentinel (a master, two replicas, three Sentinels): relay instances find the master
// through the Sentinels, follow a failover by themselves when the master is killed (SIGKILL)
// during traffic, and with ENTROPY_REDIS_WAIT_REPLICAS=1 lose none of the messages they said
// were queued. The start-up checks look at the replicas too.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateIdentity } from '../src/client/identity.js';
import { RelayClient } from '../src/client/rest-client.js';
import { loadConfig } from '../src/config.js';
import type { RedisStoreOptions } from '../src/store/redis/redis-store.js';
import { testRedisStore } from './helpers/backends.js';
import {
  FAILOVER_LIMITS,
  FAILOVER_TIMEOUT_MS,
  Traffic,
  storesAnswer,
  trafficThrough,
} from './helpers/failover.js';
import { redisCli, startRedisSentinels, type TestSentinelSetup } from './helpers/redis-server.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { waitFor } from './helpers/wait.js';

const QUEUE = { maxCount: 10, maxBytes: 100_000, ttlMs: 60_000, requireBundle: false };

describe('Redis with Sentinel', () => {
  let setup: TestSentinelSetup;
  const relays: TestRelay[] = [];
  const traffic = new Traffic();
  const sentinelStore = (options: Partial<RedisStoreOptions> = {}) =>
    testRedisStore({
      sentinels: { nodes: setup.sentinels, name: setup.name },
      ...options,
    });

  before(async () => {
    setup = await startRedisSentinels({ replicas: 2 });
  });
  after(async () => {
    await traffic.close();
    await Promise.all(relays.map((r) => r.close()));
    await setup?.stop();
  });

  it('reads ENTROPY_REDIS_SENTINELS and ENTROPY_REDIS_SENTINEL_NAME, exclusive with a URL', () => {
    const config = loadConfig({
      ENTROPY_REDIS_SENTINELS: '10.0.0.1:26379,10.0.0.2:26379',
      ENTROPY_REDIS_WAIT_REPLICAS: '1',
    });
    assert.deepEqual(config.redisSentinels, ['10.0.0.1:26379', '10.0.0.2:26379']);
    assert.equal(config.redisSentinelName, 'mymaster');
    assert.equal(config.redisWaitReplicas, 1);
    assert.throws(
      () => loadConfig({ ENTROPY_REDIS_SENTINELS: 'x:1', ENTROPY_REDIS_URL: 'redis://x:2' }),
      /ENTROPY_REDIS_SENTINELS excludes ENTROPY_REDIS_URL/,
    );
    assert.throws(() => loadConfig({ ENTROPY_REDIS_SENTINELS: 'nohost' }), /host:port/);
  });

  it('refuses to start when a replica persists to disk (require volatile), naming it', async () => {
    const replica = setup.servers[1]!;
    await redisCli(replica.port, 'config', 'set', 'save', '900 1');
    try {
      const store = sentinelStore({ requireVolatile: true });
      await store.connect();
      await assert.rejects(
        store.ready().finally(() => store.close()),
        new RegExp(`RDB.*replica 127.0.0.1:${replica.port}`),
      );
    } finally {
      await redisCli(replica.port, 'config', 'set', 'save', '');
    }
    const store = sentinelStore({ requireVolatile: true });
    await store.connect();
    await store.ready();
    await store.close();
  });

  it('WAIT: a write fewer replicas acknowledge than required is refused (503) and taken back', async () => {
    // Two replicas: asking for three can never be met.
    const relay = await startTestRelay(FAILOVER_LIMITS, {
      store: sentinelStore({ waitReplicas: 3, waitTimeoutMs: 100 }),
    });
    const recipient = 'ab'.repeat(32);
    try {
      const rest = new RelayClient({ url: relay.relay.url, ca: relay.relay.tls!.cert });
      await assert.rejects(rest.uploadBundle(generateIdentity(), { preKeys: 1 }), {
        status: 503,
        code: 'storage_unavailable',
      });
      const store = relay.relay.store;
      await assert.rejects(store.enqueue(recipient, { id: 'm1', payload: 'x' }, QUEUE), {
        code: 'storage_unavailable',
      });
      assert.deepEqual(await store.queued(recipient), []);
    } finally {
      await relay.close();
    }
    // As many as there are: queued.
    const store = sentinelStore({ waitReplicas: 2 });
    await store.connect();
    await store.ready();
    assert.equal(await store.enqueue(recipient, { id: 'm2', payload: 'y' }, QUEUE), 'queued');
    assert.deepEqual(await store.queued(recipient), [{ id: 'm2', payload: 'y' }]);
    await store.close();
  });

  it('follows a master killed during traffic: queued messages survive, both instances reconnect', async (t) => {
    relays.push(
      await startTestRelay(FAILOVER_LIMITS, { store: sentinelStore({ waitReplicas: 1 }) }),
      await startTestRelay(FAILOVER_LIMITS, { store: sentinelStore({ waitReplicas: 1 }) }),
    );
    const [a, b] = relays as [TestRelay, TestRelay];
    const pairs = await traffic.pairs(6, a, b);
    for (let round = 0; round < 5; round++) {
      const outcomes = await traffic.round(pairs, `before${round}`);
      assert.deepEqual(new Set(outcomes.map((o) => o.status?.status)), new Set(['queued']));
    }

    const old = await setup.master();
    await trafficThrough(traffic, pairs, 'during', async () => {
      await old.kill();
      await waitFor(async () => (await setup.master()) !== old, {
        timeoutMs: FAILOVER_TIMEOUT_MS,
        what: 'the Sentinels promote a replica',
      });
      await storesAnswer(relays);
    });

    const { confirmed, refused, failed } = await traffic.deliverAll(pairs);
    t.diagnostic(`confirmed ${confirmed}, refused ${refused}, failed ${failed}`);
    assert.ok(confirmed >= 5 * pairs.length + pairs.length, `confirmed ${confirmed}`);
    assert.ok(confirmed + refused + failed === traffic.outcomes.length);

    // Live delivery across instances works on the new master too (pub/sub resubscribed).
    const live = await traffic.round(pairs, 'after');
    assert.deepEqual(new Set(live.map((o) => o.status?.status)), new Set(['delivered']));
    await waitFor(() => pairs.every((p, i) => p.got.includes(`after-p${i}`)), {
      what: 'live messages arrive',
    });
  });
});
