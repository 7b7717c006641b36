// `entropy-relay serve --workers 2 --no-tls` on a real Redis: SIGHUP replaces every worker while
// clients keep connecting and sending, with no failed connection and no lost message; SIGTERM
// drains every worker and exits 0.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { generateIdentity, type Identity } from '../src/client/identity.js';
import { RelayClient } from '../src/client/rest-client.js';
import { RelaySession } from '../src/client/ws-client.js';
import { testRedisStore } from './helpers/backends.js';
import { Cluster, LONG, START_MS, httpGet, ipsOnDifferentWorkers } from './helpers/cluster.js';
import { startRedisServer, type TestRedisServer } from './helpers/redis-server.js';
import { waitFor } from './helpers/wait.js';

describe('two workers, plain HTTP (--no-tls)', () => {
  let redis: TestRedisServer;
  let cluster: Cluster;
  const sessions: RelaySession[] = [];
  const session = (identity: Identity, localAddress: string, reconnect = true) => {
    const s = new RelaySession({
      url: cluster.url,
      identity,
      localAddress,
      reconnect,
      backoff: { minMs: 20, maxMs: 300 },
    });
    sessions.push(s);
    return s;
  };

  before(
    async () => {
      redis = await startRedisServer();
      cluster = await Cluster.start({ ENTROPY_REDIS_URL: redis.url }, ['--no-tls']);
    },
    { timeout: START_MS + 30_000 },
  );
  after(async () => {
    await Promise.all(sessions.map((s) => s.close()));
    await cluster?.stop();
    await redis?.stop();
  });

  it('replaces every worker on SIGHUP with no failed connection and no lost message', async () => {
    const PAIRS = 3;
    // Traffic is paced (a pause between steps, not a synchronisation) to leave the machine's
    // cores to the workers being started.
    const pause = () => new Promise((resolve) => setTimeout(resolve, 25));
    const pairs = await Promise.all(
      Array.from({ length: PAIRS }, async (_, i) => {
        const recipientIp = `127.0.1.${10 + i}`;
        const recipientId = generateIdentity();
        await new RelayClient({ url: cluster.url, localAddress: recipientIp }).uploadBundle(
          recipientId,
          { preKeys: 1 },
        );
        const sender = session(generateIdentity(), `127.0.1.${20 + i}`);
        const recipient = session(recipientId, recipientIp);
        const received = new Set<string>();
        recipient.on('message', (m) => received.add(m.envelope));
        recipient.on('queued', (q) => received.add(String(q.payload.envelope)));
        await Promise.all([sender.connect(), recipient.connect()]);
        return { sender, recipient, received, sent: [] as string[], sentAfterReload: 0 };
      }),
    );
    const failures: string[] = [];
    let running = true;
    let reloaded = false;

    // Senders: each message is sent until the relay answers for it (a send cut by a worker's
    // drain is not answered, and is sent again once the session is back).
    const senders = pairs.map(async (pair, i) => {
      for (let n = 0; running; n++) {
        const envelope = `p${i}-m${n}`;
        for (;;) {
          try {
            await waitFor(() => pair.sender.state === 'open', {
              ...LONG,
              what: `sender ${i} is connected`,
            });
            const { status } = await pair.sender.send(
              pair.recipient.identity.identityHash,
              envelope,
            );
            if (status === 'rejected') failures.push(`${envelope} rejected`);
            break;
          } catch (err) {
            if (!/closed|not_connected|not authenticated/i.test(String(err))) {
              failures.push(`${envelope}: ${String(err)}`);
              break;
            }
            await pause(); // the session is going down: let its close be seen
          }
        }
        pair.sent.push(envelope);
        if (reloaded) pair.sentAfterReload++;
        await pause();
      }
    });
    // New connections all along: HTTP requests, and whole WebSocket sessions.
    let requests = 0;
    const requesters = Array.from({ length: 2 }, async (_, k) => {
      for (let n = 0; running; n++) {
        const ip = `127.0.2.${10 + ((n * 2 + k) % 40)}`;
        try {
          const { status } = await httpGet(`${cluster.url}/health`, ip);
          if (status !== 200) failures.push(`GET /health from ${ip}: ${status}`);
        } catch (err) {
          failures.push(`GET /health from ${ip}: ${String(err)}`);
        }
        requests++;
        await pause();
      }
    });
    let logins = 0;
    const churn = (async () => {
      for (let n = 0; running; n++) {
        const s = session(generateIdentity(), `127.0.3.${10 + (n % 40)}`, false);
        try {
          await s.connect();
          logins++;
        } catch (err) {
          // A session that reaches an old worker as it drains is closed with server_shutdown,
          // like every session of that worker: the client reconnects (to the new worker). Any
          // other error is a failure.
          if (!/shutting down/i.test(String(err))) {
            failures.push(`session from 127.0.3.${10 + (n % 40)}: ${String(err)}`);
          }
        }
        await s.close();
        await pause();
      }
    })();

    const before = cluster.workerPids();
    const from = cluster.lines.length;
    try {
      await waitFor(() => pairs.every((p) => p.sent.length >= 5) && logins >= 2, {
        ...LONG,
        what: 'traffic flows',
      });
      cluster.child.kill('SIGHUP');
      await waitFor(() => cluster.logged('every worker replaced', from), {
        timeoutMs: 120_000,
        what: 'every worker is replaced',
      });
      reloaded = true;
      const requestsAtReload = requests;
      await waitFor(
        () => requests > requestsAtReload + 5 && pairs.every((p) => p.sentAfterReload >= 5),
        { ...LONG, what: 'traffic flows after the reload' },
      );
    } finally {
      running = false;
      await Promise.all([...senders, ...requesters, churn]);
      if (failures.length > 0) console.error(failures.slice(0, 20));
    }

    assert.deepEqual(failures, []);
    const after = cluster.workerPids();
    assert.equal(after.size, 2);
    for (const [slot, pid] of after) {
      assert.notEqual(pid, before.get(slot), `slot ${slot} has a new worker`);
      assert.ok(![...before.values()].includes(pid));
    }
    const drained = cluster.lines
      .slice(from)
      .filter((l) => l.msg === 'worker drained and exited')
      .map((l) => l.pid);
    assert.deepEqual(drained.sort(), [...before.values()].sort(), 'each old worker drained');
    for (const pair of pairs) {
      await waitFor(() => pair.sent.every((e) => pair.received.has(e)), {
        ...LONG,
        what: `every message of ${pair.sent[0]} arrives`,
      });
    }
    assert.ok(
      pairs.every((p) => p.sent.every((e) => p.received.has(e))),
      'no message lost',
    );
    await Promise.all(pairs.flatMap((p) => [p.sender.close(), p.recipient.close()]));
  });

  it('drains on SIGTERM: what the relay answered for is delivered or queued, exit 0', async () => {
    const alice = generateIdentity();
    const bob = generateIdentity();
    const [ipA, ipB] = await ipsOnDifferentWorkers(cluster, 50);
    await new RelayClient({ url: cluster.url, localAddress: ipB }).uploadBundle(bob, {
      preKeys: 1,
    });
    const sa = session(alice, ipA, false);
    const sb = session(bob, ipB, false);
    const received = new Set<string>();
    sb.on('message', (m) => received.add(m.envelope));
    await Promise.all([sa.connect(), sb.connect()]);
    // An HTTP request in flight when the signal comes is answered.
    const body = JSON.stringify({ nickname: 'x' });
    const inFlight = new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        `${cluster.url}/nickname/register`,
        {
          method: 'POST',
          agent: false,
          localAddress: ipA,
          headers: {
            'content-type': 'application/json',
            'content-length': body.length,
            expect: '100-continue',
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.once('continue', () => {
        req.write(body.slice(0, 5));
        answered
          .then(() => {
            cluster.child.kill('SIGTERM');
            return waitFor(() => cluster.logged('shutting down'), { what: 'shutdown begins' });
          })
          .then(() => req.end(body.slice(5)), reject);
      });
    });
    // Messages sent as the signal comes: each either answered or cut with its connection.
    const statuses = new Map<string, string>();
    const sends = Array.from({ length: 30 }, (_, n) =>
      sa.send(bob.identityHash, `late ${n}`).then(
        (s) => statuses.set(`late ${n}`, s.status),
        () => undefined,
      ),
    );
    const answered = Promise.race(sends);
    assert.equal(await inFlight, 400, 'the in-flight request is answered (invalid_nickname)');
    await Promise.all(sends);
    assert.equal(await cluster.exited, 0);
    assert.ok(cluster.logged('stopped'));
    assert.ok(statuses.size > 0, 'the relay answered for some messages');
    const store = testRedisStore({ url: redis.url });
    await store.connect();
    await store.ready();
    try {
      const queued = new Set(
        (await store.queued(bob.identityHash)).map(
          (item) => (JSON.parse(item.payload) as { envelope: string }).envelope,
        ),
      );
      for (const [envelope, status] of statuses) {
        assert.notEqual(status, 'rejected', envelope);
        assert.ok(
          received.has(envelope) || queued.has(envelope),
          `${envelope} (${status}) is not lost`,
        );
      }
    } finally {
      await store.close();
    }
  });
});
