// End to end through the client library over TLS, on both stores: live and offline delivery,
// acked and un-acked drains, redelivery after a dropped connection, ordering.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateIdentity, type Identity } from '../src/client/identity.js';
import { RelaySession, type RelaySessionOptions } from '../src/client/ws-client.js';
import type { Store } from '../src/store/store.js';
import { startRedisServer, type TestRedisServer } from './helpers/redis-server.js';
import { storeBackends, testRedisStore } from './helpers/backends.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { waitFor } from './helpers/wait.js';
import { withBundle } from './helpers/ws.js';

const LIMITS = {
  powLimit: 10_000,
  limitGlobal: 10_000,
  limitMsgSend: 10_000,
  limitMsgReceive: 10_000,
  limitWsFrames: 100_000,
  limitKeysUpload: 1000,
  // A burst of 1000 jittered messages is held at once; the per-socket cap has its own tests.
  maxSocketBufferBytes: 16 * 1024 * 1024,
};

/** Waits until the offline queue of `identityHash` is empty (acks and removals are async). */
async function untilQueueEmpty(store: Store, identityHash: string): Promise<void> {
  await waitFor(async () => (await store.queued(identityHash)).length === 0, {
    what: 'the queue is empty',
  });
  assert.deepEqual(await store.queued(identityHash), []);
}

for (const backend of storeBackends()) {
  describe(`relay end to end over TLS (${backend.name} store)`, () => {
    let t: TestRelay;
    const sessions: RelaySession[] = [];
    const session = (identity: Identity, options: Partial<RelaySessionOptions> = {}) => {
      const s = new RelaySession({ url: t.relay.url, ca: t.relay.tls!.cert, identity, ...options });
      sessions.push(s);
      return s;
    };
    before(async () => {
      t = await startTestRelay({ ...LIMITS, jitterMs: [1, 5] }, { store: await backend.store() });
    });
    after(async () => {
      await Promise.all(sessions.map((s) => s.close()));
      await t.close();
      await backend.redis?.stop();
    });

    it('delivers live, with delivery_status delivered', async () => {
      const alice = session(generateIdentity());
      const bob = session(generateIdentity());
      const got: string[] = [];
      bob.on('message', (m) => got.push(m.envelope));
      await Promise.all([alice.connect(), bob.connect()]);
      const status = await alice.send(bob.identity.identityHash, 'hello bob', { id: 'c1' });
      assert.deepEqual(
        { id: status.id, status: status.status, target: status.target },
        { id: 'c1', status: 'delivered', target: bob.identity.identityHash },
      );
      await waitFor(() => got.length === 1, {
        timeoutMs: 20_000,
        what: 'bob gets every message frame',
      });
      assert.deepEqual(got, ['hello bob']);
    });

    it('queues for an offline recipient and delivers in order on connect (acks)', async () => {
      const alice = session(generateIdentity());
      const carolId = generateIdentity();
      await withBundle(t.relay, carolId);
      await alice.connect();
      for (let i = 0; i < 5; i++)
        assert.equal((await alice.send(carolId.identityHash, `offline ${i}`)).status, 'queued');
      const carol = session(carolId, { acks: true });
      const got: string[] = [];
      carol.on('queued', (q) => got.push(String(q.payload.envelope)));
      await carol.connect();
      await waitFor(() => got.length === 5, {
        timeoutMs: 20_000,
        what: 'carol gets every queued frame',
      });
      assert.deepEqual(
        got,
        [0, 1, 2, 3, 4].map((i) => `offline ${i}`),
      );
      // Acked items leave the queue.
      await untilQueueEmpty(t.relay.store, carolId.identityHash);
    });

    it('v1 clients (no acks): items leave the queue once written', async () => {
      const alice = session(generateIdentity());
      const daveId = generateIdentity();
      await withBundle(t.relay, daveId);
      await alice.connect();
      await alice.send(daveId.identityHash, 'for v1');
      const dave = session(daveId, { acks: false });
      const got: string[] = [];
      dave.on('queued', (q) => got.push(String(q.payload.envelope)));
      await dave.connect();
      await waitFor(() => got.length === 1, {
        timeoutMs: 20_000,
        what: 'dave gets every queued frame',
      });
      await untilQueueEmpty(t.relay.store, daveId.identityHash);
    });

    it('redelivers unacked items after a dropped connection', async () => {
      const alice = session(generateIdentity());
      const erinId = generateIdentity();
      await withBundle(t.relay, erinId);
      await alice.connect();
      for (let i = 0; i < 3; i++) await alice.send(erinId.identityHash, `keep ${i}`);
      const first = session(erinId, { acks: true, autoAck: false, reconnect: false });
      const firstGot: string[] = [];
      first.on('queued', (q) => firstGot.push(q.id));
      await first.connect();
      await waitFor(() => firstGot.length === 3, {
        timeoutMs: 20_000,
        what: 'first gets every queued frame',
      });
      // The connection drops without acks.
      (first as unknown as { ws: { terminate(): void } }).ws.terminate();
      // Once the relay has let the session go, nothing has left the queue.
      await waitFor(() => !t.relay.router.isLocal(erinId.identityHash), {
        what: 'the relay lets the dropped session go',
      });
      assert.equal((await t.relay.store.queued(erinId.identityHash)).length, 3);
      const second = session(erinId, { acks: true });
      const secondGot: string[] = [];
      second.on('queued', (q) => secondGot.push(q.id));
      await second.connect();
      await waitFor(() => secondGot.length === 3, {
        timeoutMs: 20_000,
        what: 'second gets every queued frame',
      });
      assert.deepEqual(secondGot, firstGot, 'same stable ids, same order');
    });

    it('preserves the order of 1000 messages from one sender', async () => {
      const alice = session(generateIdentity());
      const frank = session(generateIdentity());
      const got: number[] = [];
      frank.on('message', (m) => got.push(Number(m.envelope)));
      await Promise.all([alice.connect(), frank.connect()]);
      const statuses = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => alice.send(frank.identity.identityHash, String(i))),
      );
      assert.ok(statuses.every((s) => s.status === 'delivered'));
      await waitFor(() => got.length === 1000, {
        timeoutMs: 20_000,
        what: 'frank gets every message frame',
      });
      assert.deepEqual(
        got,
        Array.from({ length: 1000 }, (_, i) => i),
      );
    });
  });
}

describe('frames waiting in the outbox when a socket closes', () => {
  let redis: TestRedisServer;
  before(async () => {
    redis = await startRedisServer();
  });
  after(() => redis.stop());

  const slowRelay = () =>
    startTestRelay(
      { ...LIMITS, jitterMs: [800, 1000] },
      { store: testRedisStore({ url: redis.url }) },
    );

  it('go back to the offline queue when the client goes, and the sender hears queued', async () => {
    const t = await slowRelay();
    try {
      const alice = new RelaySession({
        url: t.relay.url,
        ca: t.relay.tls!.cert,
        identity: generateIdentity(),
      });
      const bobId = generateIdentity();
      await withBundle(t.relay, bobId);
      const bob = new RelaySession({
        url: t.relay.url,
        ca: t.relay.tls!.cert,
        identity: bobId,
        acks: true,
        reconnect: false,
      });
      await Promise.all([alice.connect(), bob.connect()]);
      const pending = alice.send(bobId.identityHash, 'in flight');
      // Bob leaves while the message still waits for its jitter.
      await waitFor(() => t.relay.shaper.heldBytes > 0, {
        what: "the message is in Bob's outbox",
      });
      (bob as unknown as { ws: { terminate(): void } }).ws.terminate();
      assert.equal((await pending).status, 'queued');
      const queue = await t.relay.store.queued(bobId.identityHash);
      assert.deepEqual(
        queue.map((q) => JSON.parse(q.payload).envelope),
        ['in flight'],
      );
      await alice.close();
    } finally {
      await t.close();
    }
  });

  it('are never lost on server shutdown: written before the close, or queued for another instance', async () => {
    const first = await slowRelay();
    const second = await slowRelay();
    const bobId = generateIdentity();
    await withBundle(first.relay, bobId);
    const alice = new RelaySession({
      url: first.relay.url,
      ca: first.relay.tls!.cert,
      identity: generateIdentity(),
    });
    const bob = new RelaySession({
      url: first.relay.url,
      ca: first.relay.tls!.cert,
      identity: bobId,
      acks: true,
      reconnect: false,
    });
    const got: string[] = [];
    bob.on('message', (m) => got.push(m.envelope));
    try {
      await Promise.all([alice.connect(), bob.connect()]);
      const pending = alice
        .send(bobId.identityHash, 'survives shutdown')
        .catch(() => ({ status: 'closed' }));
      await waitFor(() => first.relay.shaper.heldBytes > 0, {
        what: "the message is in Bob's outbox",
      });
      await first.close();
      assert.equal((await pending).status, 'closed', 'the sender was cut off too');
      const later = new RelaySession({
        url: second.relay.url,
        ca: second.relay.tls!.cert,
        identity: bobId,
        acks: true,
      });
      later.on('queued', (q) => got.push(String(q.payload.envelope)));
      await later.connect();
      // Requeued, it is delivered and acked; or it was written before the close and never queued.
      await waitFor(
        async () => (await second.relay.store.queued(bobId.identityHash)).length === 0,
        {
          what: "Bob's queue is drained",
        },
      );
      assert.deepEqual(got, ['survives shutdown']);
      await later.close();
    } finally {
      await Promise.all([alice.close(), bob.close()]);
      await Promise.all([first.close(), second.close()]);
    }
  });
});
