// The global bound of offline storage (docs/protocol.md §9 "Globally"): the memory store's byte
// budget, Redis maxmemory with noeviction (an out-of-memory reply, or the high-water mark before
// it, refuses with storage_full), and what the sender hears for each refusal.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { generateIdentity } from '../src/client/identity.js';
import { StoreUnavailableError } from '../src/errors.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { parseMemoryInfo, type MemoryInfo } from '../src/store/redis/memory-watch.js';
import type { RedisStore } from '../src/store/redis/redis-store.js';
import type { EnqueueResult, QueueLimits } from '../src/store/store.js';
import { MINUTE_MS as MINUTE } from '../src/time.js';
import { testRedisStore } from './helpers/backends.js';
import { redisKeysContaining } from './helpers/redis-keys.js';
import { startRedisServer, type TestRedisServer } from './helpers/redis-server.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { waitFor } from './helpers/wait.js';
import { authedPeer, withBundle } from './helpers/ws.js';

const hash = (): string => randomBytes(32).toString('hex');
const memoryOf = async (redis: Redis): Promise<MemoryInfo> =>
  parseMemoryInfo(await redis.info('memory'));

describe('memory store: the offline byte budget (ENTROPY_QUEUE_TOTAL_BYTES)', () => {
  let now = 1_000_000;
  const store = new MemoryStore(() => now, 100);
  const limits = (ttlMs = 1000): QueueLimits => ({
    maxCount: 100,
    maxBytes: 1000,
    ttlMs,
    requireBundle: false,
  });
  const put = (h: string, id: string, bytes: number, ttlMs?: number): Promise<EnqueueResult> =>
    store.enqueue(h, { id, payload: 'x'.repeat(bytes) }, limits(ttlMs));
  before(() => store.connect());
  after(() => store.close());

  it('refuses storage_full past the budget, and counts exactly through removal and burn', async () => {
    const [a, b, c] = [hash(), hash(), hash()];
    assert.equal(await put(a, 'a1', 40), 'queued');
    assert.equal(await put(b, 'b1', 40), 'queued');
    assert.equal(await put(c, 'c1', 21), 'storage_full');
    assert.equal(store.offlineBytes, 80);
    assert.deepEqual(await store.queued(c), []);
    assert.equal(await put(c, 'c1', 20), 'queued');
    assert.equal(await put(c, 'c2', 1), 'storage_full');
    assert.equal(store.offlineBytes, 100);

    assert.equal(await store.removeQueued(a, ['a1']), 1);
    assert.equal(store.offlineBytes, 60);
    assert.equal(await put(c, 'c2', 40), 'queued');
    assert.equal(store.offlineBytes, 100);
    await store.burnIdentity(c);
    assert.equal(store.offlineBytes, 40);
    await store.burnIdentity(b);
    assert.equal(store.offlineBytes, 0);
  });

  it('gives back the bytes of expired messages: lazily, and by the sweep', async () => {
    const [a, b, c] = [hash(), hash(), hash()];
    assert.equal(await put(a, 'a1', 30), 'queued');
    assert.equal(await put(b, 'b1', 30), 'queued');
    now += 600;
    assert.equal(await put(b, 'b2', 30), 'queued');
    assert.equal(await put(c, 'c1', 11), 'storage_full');
    now += 500; // a1 and b1 expired, b2 lives
    assert.deepEqual(await store.queued(a), []);
    assert.equal(store.offlineBytes, 60, 'a reclaimed on access');
    assert.equal(await put(b, 'b3', 40), 'queued');
    assert.equal(store.offlineBytes, 70, 'b1 reclaimed by the enqueue to its queue');
    now += 1000; // everything expired: the sweep (once a second) reclaims it
    await waitFor(() => store.offlineBytes === 0, {
      what: 'the sweep reclaims every expired message',
    });
  });
});

describe('Redis maxmemory with noeviction', () => {
  let redis: TestRedisServer;
  let inspector: Redis;
  const stores: RedisStore[] = [];
  /** A store on a Redis of its own: 4 MB, noeviction. */
  const open = async (queueHighWater: number): Promise<RedisStore> => {
    await stopAll();
    redis = await startRedisServer(['--maxmemory', '4mb', '--maxmemory-policy', 'noeviction']);
    inspector = new Redis(redis.url);
    const store = testRedisStore({ url: redis.url, requireVolatile: true, queueHighWater });
    stores.push(store);
    await store.connect();
    await store.ready();
    return store;
  };
  const memory = (): Promise<MemoryInfo> => memoryOf(inspector);
  const limits: QueueLimits = {
    maxCount: 100_000,
    maxBytes: 100 * 1024 * 1024,
    ttlMs: 10 * MINUTE,
    requireBundle: false,
  };
  const payload = (i: number): string => `${i}:`.padEnd(2048, 'p');

  const stopAll = async (): Promise<void> => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    inspector?.disconnect();
    await redis?.stop();
  };
  after(stopAll);

  it('a full Redis refuses with storage_full, loses nothing, and takes messages again once freed', async () => {
    const store = await open(100);
    const h = hash();
    const queued: string[] = [];
    let result: EnqueueResult = 'queued';
    for (let i = 0; i < 5000 && result === 'queued'; i++) {
      result = await store.enqueue(h, { id: `m${i}`, payload: payload(i) }, limits);
      if (result === 'queued') queued.push(`m${i}`);
    }
    assert.equal(result, 'storage_full');
    assert.ok(queued.length > 100, `only ${queued.length} queued`);
    const { used, max } = await memory();
    assert.ok(used <= max * 1.05, `used ${used} of ${max}`);
    // Again, and for another recipient: a refusal, not an exception.
    assert.equal(await store.enqueue(h, { id: 'x', payload: payload(0) }, limits), 'storage_full');
    assert.equal(
      await store.enqueue(hash(), { id: 'x', payload: payload(0) }, limits),
      'storage_full',
    );
    // An out-of-memory reply to any other command is the usual 503 (the long key makes sure
    // that this command does not fit).
    await assert.rejects(store.spendSeed('s'.repeat(100_000), MINUTE), StoreUnavailableError);

    const items = await store.queued(h);
    assert.deepEqual(
      items.map((i) => i.id),
      queued,
      'nothing queued was lost',
    );
    assert.deepEqual(items.at(-1), { id: queued.at(-1), payload: payload(queued.length - 1) });

    assert.equal(await store.removeQueued(h, queued.slice(0, 200)), 200);
    assert.equal(await store.enqueue(h, { id: 'again', payload: payload(0) }, limits), 'queued');
    assert.equal(await store.spendSeed(hash(), MINUTE), true);
  });

  it('refuses from the high-water mark on, keeping Redis room for everything else', async () => {
    const store = await open(50);
    const h = hash();
    const ids: string[] = [];
    const put = async (): Promise<EnqueueResult> => {
      const id = `m${ids.length}`;
      const result = await store.enqueue(h, { id, payload: payload(ids.length) }, limits);
      if (result === 'queued') ids.push(id);
      return result;
    };
    // Past the mark (measured here), then until the relay's once-a-second poll notices.
    for (let m = await memory(); m.used < m.max * 0.55; m = await memory()) {
      assert.equal(await put(), 'queued');
    }
    await waitFor(async () => (await put()) === 'storage_full', { what: 'the mark refuses' });
    const { used, max } = await memory();
    assert.ok(used < max * 0.9, `refused before Redis was full: used ${used} of ${max}`);
    assert.equal(await store.spendSeed(hash(), MINUTE), true, 'other writes still succeed');
    assert.equal((await store.queued(h)).length, ids.length, 'nothing queued was lost');

    assert.equal(await store.removeQueued(h, ids), ids.length);
    await waitFor(async () => (await put()) === 'queued', {
      what: 'the mark lets messages in again',
    });
  });
});

describe('what the sender hears', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ queueTotalBytes: 1024, jitterMs: [0, 2] });
  });
  after(() => t.close());

  it('rejected invalid_recipient for an identity without a bundle (nothing stored)', async () => {
    const a = await authedPeer(t.relay, generateIdentity());
    const nobody = generateIdentity().identityHash;
    a.peer.send({ type: 'relay', to: nobody, envelope: 'e', id: 'r1' });
    const status = await a.peer.nextOfType('delivery_status');
    assert.deepEqual([status.status, status.reason], ['rejected', 'invalid_recipient']);
    assert.deepEqual(await t.relay.store.queued(nobody), []);
    await a.peer.close();
  });

  it('rejected storage_full once the memory budget is spent (nothing queued is dropped)', async () => {
    const a = await authedPeer(t.relay, generateIdentity());
    const bob = await withBundle(t.relay, generateIdentity());
    const statuses: string[] = [];
    for (let i = 0; i < 4; i++) {
      a.peer.send({ type: 'relay', to: bob, envelope: `${i}`.repeat(200), id: `r${i}` });
      const s = await a.peer.nextOfType('delivery_status');
      statuses.push(`${s.status}:${s.reason ?? ''}`);
    }
    assert.deepEqual(statuses, ['queued:', 'queued:', 'queued:', 'rejected:storage_full']);
    const queue = await t.relay.store.queued(bob);
    assert.deepEqual(
      queue.map((q) => JSON.parse(q.payload).envelope),
      ['0', '1', '2'].map((c) => c.repeat(200)),
    );
    assert.ok((t.relay.store as MemoryStore).offlineBytes <= 1024);
    const refused = await t.relay.ctx.metrics.queueRefused.get();
    assert.deepEqual(refused.values.map((v) => `${v.labels.reason}:${v.value}`).sort(), [
      'invalid_recipient:1',
      'storage_full:1',
    ]);
    await a.peer.close();
  });
});

describe('relays to hashes nobody registered (the attack)', () => {
  let redis: TestRedisServer;
  let inspector: Redis;
  let t: TestRelay;
  before(async () => {
    redis = await startRedisServer();
    inspector = new Redis(redis.url);
    t = await startTestRelay({ redisUrl: redis.url, jitterMs: [0, 2] });
  });
  after(async () => {
    await t.close();
    inspector.disconnect();
    await redis.stop();
  });

  it('200 envelopes of 256 KiB to 5 unregistered hashes: all rejected, nothing stored', async () => {
    const usedMemory = async () => (await memoryOf(inspector)).used;
    const targets = Array.from({ length: 5 }, hash);
    const envelope = 'e'.repeat(256 * 1024);
    const a = await authedPeer(t.relay, generateIdentity());
    const before = await usedMemory();

    const statuses = new Map<string, { status: string; reason?: string }>();
    const all = a.peer.next((r) => {
      if (r.json?.type === 'delivery_status') statuses.set(r.json.id, r.json);
      return statuses.size === 200;
    }, 60_000);
    for (let i = 0; i < 200; i++)
      a.peer.send({ type: 'relay', to: targets[i % 5], envelope, id: `m${i}` });
    await all;
    await a.peer.close();

    assert.deepEqual(
      new Set([...statuses.values()].map((s) => `${s.status}:${s.reason}`)),
      new Set(['rejected:invalid_recipient']),
    );
    for (const target of targets)
      assert.deepEqual(await redisKeysContaining(redis.port, target), [], `keys of ${target}`);
    // 200 × 256 KiB = 50 MiB had they been kept; allocator noise is far below 1 MiB.
    const grown = (await usedMemory()) - before;
    assert.ok(grown < 1024 * 1024, `used_memory grew by ${grown} bytes`);
  });
});
