// Two relay instances on one test Redis (docs/protocol.md §4.4): messages between clients
// on different instances arrive exactly once while recipients come and go; session replacement
// and burn reach sessions on the other instance.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { generateIdentity } from '../src/client/identity.js';
import { RelayClient } from '../src/client/rest-client.js';
import { RelaySession, type RelayErrorFrame } from '../src/client/ws-client.js';
import {
  redisCli,
  startRedisCluster,
  startRedisServer,
  type TestRedisCluster,
  type TestRedisServer,
} from './helpers/redis-server.js';
import { testRedisStore } from './helpers/backends.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { waitFor } from './helpers/wait.js';
import { withBundle } from './helpers/ws.js';

const LIMITS = {
  powLimit: 10_000,
  limitGlobal: 10_000,
  limitMsgSend: 100_000,
  limitMsgReceive: 100_000,
  limitWsFrames: 100_000,
  limitAccountBurn: 100,
  limitWsAuth: 10_000,
  limitWsAuthIdentity: 10_000,
  limitKeysUpload: 1000,
  jitterMs: [1, 10] as [number, number],
};

describe('two instances on one Redis', () => {
  let redis: TestRedisServer;
  let a: TestRelay;
  let b: TestRelay;
  const sessions: RelaySession[] = [];
  const open = (relay: TestRelay, identity = generateIdentity(), acks = true) => {
    const s = new RelaySession({
      url: relay.relay.url,
      ca: relay.relay.tls!.cert,
      identity,
      acks,
      backoff: { minMs: 20, maxMs: 200 },
    });
    sessions.push(s);
    return s;
  };
  const newStore = () => testRedisStore({ url: redis.url });

  before(async () => {
    redis = await startRedisServer();
    a = await startTestRelay(LIMITS, { store: newStore() });
    b = await startTestRelay(LIMITS, { store: newStore() });
  });
  after(async () => {
    await Promise.all(sessions.map((s) => s.close()));
    await Promise.all([a.close(), b.close()]);
    await redis.stop();
  });

  it('shares one secret: a seed issued by one instance verifies on the other', async () => {
    assert.equal(a.relay.ctx.secret.value, b.relay.ctx.secret.value);
  });

  it('delivers 1000 messages across instances exactly once while recipients come and go', async () => {
    const SENDERS = 10;
    const PER_SENDER = 100;
    // Senders on A write to recipients on B, and the other way round.
    const pairs = await Promise.all(
      Array.from({ length: SENDERS }, async (_, i) => {
        const [here, there] = i % 2 === 0 ? [a, b] : [b, a];
        const sender = open(here);
        const recipient = open(there);
        await withBundle(there.relay, recipient.identity);
        const received: string[] = [];
        recipient.on('message', (m) => received.push(m.envelope));
        recipient.on('queued', (q) => received.push(String(q.payload.envelope)));
        await Promise.all([sender.connect(), recipient.connect()]);
        return { sender, recipient, received, expected: [] as string[] };
      }),
    );

    // Recipients drop and come back at random during the run (the pauses are the scenario: time
    // online and offline, not synchronisation).
    let churning = true;
    let churns = 0;
    const churn = Promise.all(
      pairs.map(async ({ recipient }) => {
        while (churning) {
          await new Promise((resolve) => setTimeout(resolve, randomInt(20, 150)));
          await recipient.close();
          churns++;
          await new Promise((resolve) => setTimeout(resolve, randomInt(0, 100)));
          await recipient.connect();
        }
      }),
    );

    const statuses = await Promise.all(
      pairs.map(async (pair, i) => {
        const results = [];
        for (let n = 0; n < PER_SENDER; n++) {
          const envelope = `s${i}-m${n}`;
          pair.expected.push(envelope);
          results.push(pair.sender.send(pair.recipient.identity.identityHash, envelope));
          // Spreads each sender's messages over the churn (pacing, not synchronisation).
          if (n % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 5));
        }
        return Promise.all(results);
      }),
    );
    churning = false;
    await churn;
    const all = statuses.flat();
    assert.equal(all.length, SENDERS * PER_SENDER);
    assert.deepEqual(
      all.filter((s) => s.status === 'rejected'),
      [],
      'nothing rejected',
    );
    assert.ok(churns >= SENDERS, `recipients reconnected ${churns} times`);

    // Everyone online: every message arrives, none twice.
    for (const pair of pairs) {
      await waitFor(() => pair.received.length >= PER_SENDER, {
        timeoutMs: 30_000,
        what: `all ${PER_SENDER} messages of ${pair.expected[0]?.split('-')[0]} arrive`,
      });
      assert.equal(new Set(pair.received).size, pair.received.length, 'no duplicates');
      assert.deepEqual([...pair.received].sort(), [...pair.expected].sort(), 'no loss');
    }
    // Nothing is left behind in any queue once acked (acks are removed asynchronously).
    const queuesEmpty = async () => {
      for (const pair of pairs) {
        if ((await a.relay.store.queued(pair.recipient.identity.identityHash)).length > 0) {
          return false;
        }
      }
      return true;
    };
    await waitFor(queuesEmpty, { what: 'every queue is empty' });
    for (const pair of pairs) {
      assert.deepEqual(await a.relay.store.queued(pair.recipient.identity.identityHash), []);
    }
  });

  it('removes a live cross-instance delivery from the queue, whatever its frame type', async () => {
    const sender = open(a);
    const recipient = open(b, generateIdentity(), true);
    await withBundle(b.relay, recipient.identity);
    const binaries: Buffer[] = [];
    recipient.on('binary', (data) => binaries.push(data));
    await Promise.all([sender.connect(), recipient.connect()]);
    const h = recipient.identity.identityHash;
    assert.equal((await sender.sendBinary(h, Buffer.from('bin'))).status, 'delivered');
    assert.equal((await sender.send(h, 'json')).status, 'delivered');
    await waitFor(async () => (await a.relay.store.queued(h)).length === 0, {
      what: 'the queue is empty',
    });
    assert.deepEqual(await a.relay.store.queued(h), [], 'nothing left to be delivered twice');
    // `delivered` means written by the relay; the client reads it a moment later.
    await waitFor(() => binaries.length > 0, { what: 'the binary frame arrives' });
    assert.equal(binaries.length, 1);
  });

  it('drains what was queued while its Redis subscriptions were down', async () => {
    const sender = open(a);
    const recipient = open(b, generateIdentity(), true);
    await withBundle(b.relay, recipient.identity);
    const got: string[] = [];
    recipient.on('queued', (q) => got.push(String(q.payload.envelope)));
    recipient.on('message', (m) => got.push(m.envelope));
    await Promise.all([sender.connect(), recipient.connect()]);
    // Cut every pub/sub connection: B does not hear of the next message until it resubscribes.
    await redisCli(redis.port, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
    const status = await sender.send(recipient.identity.identityHash, 'sent while deaf');
    assert.ok(['queued', 'delivered'].includes(status.status), status.status);
    await waitFor(() => got.length > 0, { what: 'the message arrives' });
    assert.deepEqual(got, ['sent while deaf']);
  });

  it('replaces a session on the other instance', async () => {
    const me = generateIdentity();
    const first = open(a, me);
    const errors: RelayErrorFrame[] = [];
    first.on('relayError', (e) => errors.push(e));
    await first.connect();
    const closed = new Promise((resolve) => first.once('close', resolve));
    await open(b, me).connect();
    await closed;
    assert.deepEqual(
      errors.map((e) => e.code),
      ['session_replaced'],
    );
  });

  it('a burn on one instance closes the live session on the other with account_burned', async () => {
    const me = generateIdentity();
    const rest = new RelayClient({ url: a.relay.url, ca: a.relay.tls!.cert });
    await rest.uploadBundle(me, { preKeys: 1 });
    const live = open(b, me);
    const errors: RelayErrorFrame[] = [];
    live.on('relayError', (e) => errors.push(e));
    await live.connect();
    const closed = new Promise<{ code: number }>((resolve) => live.once('close', resolve));
    await rest.burn(me);
    assert.equal((await closed).code, 4003);
    assert.deepEqual(
      errors.map((e) => e.code),
      ['account_burned'],
    );
  });
});

describe('two instances on a Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let a: TestRelay;
  let b: TestRelay;
  const newStore = () => testRedisStore({ cluster: cluster.nodes });

  before(async () => {
    cluster = await startRedisCluster(3);
    a = await startTestRelay(LIMITS, { store: newStore() });
    b = await startTestRelay(LIMITS, { store: newStore() });
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
    await cluster.stop();
  });

  it('routes live and queued messages across instances, and burns everything', async () => {
    const alice = generateIdentity();
    const bob = generateIdentity();
    const rest = new RelayClient({ url: a.relay.url, ca: a.relay.tls!.cert });
    await rest.uploadBundle(bob, { preKeys: 2 });
    await rest.registerNickname(bob, 'bob_on_cluster');
    const sender = new RelaySession({ url: a.relay.url, ca: a.relay.tls!.cert, identity: alice });
    await sender.connect();
    assert.equal((await sender.send(bob.identityHash, 'while offline')).status, 'queued');

    const receiver = new RelaySession({
      url: b.relay.url,
      ca: b.relay.tls!.cert,
      identity: bob,
      acks: true,
    });
    const got: string[] = [];
    receiver.on('queued', (q) => got.push(String(q.payload.envelope)));
    receiver.on('message', (m) => got.push(m.envelope));
    await receiver.connect();
    assert.equal((await sender.send(bob.identityHash, 'live')).status, 'delivered');
    await waitFor(() => got.length >= 2, { what: 'both messages arrive' });
    assert.deepEqual(got, ['while offline', 'live']);

    const closed = new Promise<{ code: number }>((resolve) => receiver.once('close', resolve));
    await rest.burn(bob);
    assert.equal((await closed).code, 4003);
    const lookup = await rest
      .lookupNickname('bob_on_cluster')
      .catch((e: { status: number }) => e.status);
    assert.equal(lookup, 404);
    assert.equal(await a.relay.store.prekeyCount(bob.identityHash), null);
    assert.ok(!(await rest.randomHashes(10)).includes(bob.identityHash));
    await Promise.all([sender.close(), receiver.close()]);
  });
});
