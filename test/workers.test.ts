// `entropy-relay serve --workers 2` as real processes on a real Redis, over TLS: connections of
// one client IP land in one worker (seen in /proc: which process holds the socket), messages
// cross workers, a killed worker is restarted, /metrics sums the workers, and the per-IP cap
// holds across them; and the worker count, and rendezvous hashing, on their own.
// (SIGHUP and SIGTERM: workers-reload.test.ts; PROXY protocol: workers-proxy.test.ts.)
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { workerCount } from '../src/cluster/index.js';
import { Rendezvous } from '../src/cluster/rendezvous.js';
import { generateIdentity, type Identity } from '../src/client/identity.js';
import { ConfigError, defaultConfig } from '../src/config.js';
import { RelayClient } from '../src/client/rest-client.js';
import { RelaySession } from '../src/client/ws-client.js';
import {
  CLI,
  Cluster,
  LONG,
  START_MS,
  ipsOnDifferentWorkers,
  ownerOf,
  run,
  sample,
  tlsAttempt,
  type TlsAttempt,
} from './helpers/cluster.js';
import { startRedisServer, type TestRedisServer } from './helpers/redis-server.js';
import { waitFor } from './helpers/wait.js';

describe('rendezvous hashing of client addresses', () => {
  const clients = Array.from({ length: 4000 }, (_, i) => `10.${i >> 8}.${i & 255}.1`);

  it('spreads clients over the slots, and moves only the clients of a slot that goes', () => {
    const r = new Rendezvous();
    const all = [0, 1, 2, 3];
    const home = new Map(clients.map((c) => [c, r.pick(c, all)!]));
    const counts = all.map((slot) => [...home.values()].filter((s) => s === slot).length);
    for (const n of counts) assert.ok(n > 800 && n < 1200, `slot share ${n} of 4000`);
    const without2 = new Map(clients.map((c) => [c, r.pick(c, [0, 1, 3])!]));
    for (const c of clients) {
      if (home.get(c) !== 2) assert.equal(without2.get(c), home.get(c), `${c} stays`);
      else assert.notEqual(without2.get(c), 2);
    }
    // Back again: everyone is home.
    for (const c of clients) assert.equal(r.pick(c, all), home.get(c));
    assert.equal(r.pick('10.0.0.1', []), undefined);
  });

  it('depends on its secret key', () => {
    const a = new Rendezvous();
    const b = new Rendezvous();
    const differ = clients.filter((c) => a.pick(c, [0, 1]) !== b.pick(c, [0, 1])).length;
    assert.ok(differ > 1000 && differ < 3000, `${differ} of 4000 differ`);
  });
});

describe('worker count', () => {
  const base = defaultConfig();
  it('auto is one per core; more than one needs Redis', () => {
    assert.equal(workerCount({ ...base, workers: 'auto', redisUrl: 'redis://x:1' }, 6), 6);
    assert.equal(workerCount({ ...base, workers: 'auto' }, 1), 1);
    assert.equal(workerCount({ ...base, workers: 1 }, 8), 1);
    assert.equal(workerCount({ ...base, workers: 3, redisCluster: ['a:1'] }, 1), 3);
    assert.throws(() => workerCount({ ...base, workers: 'auto' }, 2), ConfigError);
    assert.throws(() => workerCount({ ...base, workers: 2 }, 8), /needs a shared store/);
  });
});

describe('--workers without a shared store', () => {
  it('exits 2 with a message naming the setting', async () => {
    const result = await run(
      process.execPath,
      ['--import', 'tsx', CLI, 'serve', '--workers', '2'],
      {
        env: { PATH: process.env.PATH, ENTROPY_PORT: '0', ENTROPY_METRICS_ADDR: 'off' },
      },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /ENTROPY_WORKERS=2 \(2 workers\) needs a shared store/);
    assert.match(result.stderr, /ENTROPY_REDIS_URL/);
  });

  it('rejects a value that is neither a number nor auto', async () => {
    const result = await run(
      process.execPath,
      ['--import', 'tsx', CLI, 'serve', '--workers', 'many'],
      { env: { PATH: process.env.PATH } },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--workers \(ENTROPY_WORKERS\): invalid value "many"/);
  });
});

describe('two workers over TLS (self-signed, made by the primary)', () => {
  let redis: TestRedisServer;
  let cluster: Cluster;
  let ca: string;
  let ipA: string;
  let ipB: string;
  const sessions: RelaySession[] = [];
  const CAP = 6;

  const session = (identity: Identity, localAddress: string, reconnect = true) => {
    const s = new RelaySession({
      url: cluster.url,
      ca,
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
      cluster = await Cluster.start({
        ENTROPY_REDIS_URL: redis.url,
        ENTROPY_MAX_CONNS_PER_IP: String(CAP),
      });
      [ipA, ipB] = await ipsOnDifferentWorkers(cluster);
    },
    { timeout: START_MS + 60_000 },
  );
  after(async () => {
    await Promise.all(sessions.map((s) => s.close()));
    await cluster?.stop();
    await redis?.stop();
  });

  it('serves one certificate from every worker', async () => {
    const a = await tlsAttempt(cluster.port, ipA);
    const b = await tlsAttempt(cluster.port, ipB);
    a.close();
    b.close();
    assert.ok(a.accepted && b.accepted);
    assert.equal(a.cert, b.cert);
    ca = a.cert!;
    const fingerprints = new Set(
      cluster.lines.filter((l) => typeof l.fingerprint === 'string').map((l) => l.fingerprint),
    );
    assert.equal(fingerprints.size, 1, 'one fingerprint logged');
  });

  it('relays messages between clients on different workers', async () => {
    const alice = generateIdentity();
    const bob = generateIdentity();
    for (const [identity, ip] of [
      [alice, ipA],
      [bob, ipB],
    ] as const) {
      await new RelayClient({ url: cluster.url, ca, localAddress: ip }).uploadBundle(identity, {
        preKeys: 1,
      });
    }
    const sa = session(alice, ipA);
    const sb = session(bob, ipB);
    const toBob: string[] = [];
    const toAlice: string[] = [];
    sb.on('message', (m) => toBob.push(m.envelope));
    sa.on('message', (m) => toAlice.push(m.envelope));
    await Promise.all([sa.connect(), sb.connect()]);
    const pids = [...cluster.workerPids().values()];
    const ownerA = ownerOf(pids, ipA, cluster.port);
    const ownerB = ownerOf(pids, ipB, cluster.port);
    assert.ok(
      ownerA && ownerB && ownerA !== ownerB,
      `sessions on two workers (${ownerA}, ${ownerB})`,
    );
    assert.equal((await sa.send(bob.identityHash, 'hello bob')).status, 'delivered');
    assert.equal((await sb.send(alice.identityHash, 'hello alice')).status, 'delivered');
    await waitFor(() => toBob.length === 1 && toAlice.length === 1, { what: 'both arrive' });
    assert.deepEqual([toBob, toAlice], [['hello bob'], ['hello alice']]);
    await Promise.all([sa.close(), sb.close()]);
  });

  it('sums a counter both workers incremented in the primary /metrics', async () => {
    const series = 'entropy_http_requests_total{route="/health",status="200"}';
    const before = sample(await cluster.metrics(), series);
    for (let i = 0; i < 3; i++) {
      for (const ip of [ipA, ipB]) {
        const ok = await new Promise<number>((resolve, reject) => {
          const socket = tlsConnect({
            socket: netConnect({ host: '127.0.0.1', port: cluster.port, localAddress: ip }),
            servername: 'localhost',
            ca,
          });
          socket.on('error', reject);
          socket.once('secureConnect', () =>
            socket.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
          );
          let answer = '';
          socket.on('data', (c: Buffer) => (answer += c.toString()));
          socket.on('end', () => resolve(Number(answer.split(' ')[1])));
        });
        assert.equal(ok, 200);
      }
    }
    const text = await cluster.metrics();
    assert.equal(sample(text, series), before + 6, 'three requests on each worker');
    assert.equal(sample(text, 'entropy_workers'), 2);
    assert.equal(text.match(/^# TYPE entropy_http_requests_total /gm)?.length, 1, 'one family');
    // promtool parses it (exit 1: a parse error; 3: lint remarks on prom-client's own names).
    const dir = mkdtempSync(join(tmpdir(), 'entropy-metrics-'));
    try {
      const file = join(dir, 'metrics.txt');
      writeFileSync(file, text);
      const check = await run('sh', ['-c', `promtool check metrics < ${file} 2>&1`]).then(
        ({ stdout }) => ({ code: 0, stdout }),
        (err: { code: number; stdout: string }) => err,
      );
      assert.ok(check.code === 0 || check.code === 3, `promtool: ${check.code} ${check.stdout}`);
      assert.doesNotMatch(check.stdout, /error while linting/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('holds the per-IP connection cap across workers', async () => {
    const ip = '127.0.0.99';
    const refusedBefore = sample(await cluster.metrics(), 'entropy_connections_refused_total');
    const attempts: TlsAttempt[] = [];
    try {
      for (let i = 0; i < CAP; i++) attempts.push(await tlsAttempt(cluster.port, ip));
      assert.deepEqual(
        attempts.map((a) => a.accepted),
        Array(CAP).fill(true),
      );
      // Spread over two workers the next one would fit (CAP/2 + 1 each); kept on one, it is refused.
      const extra = await tlsAttempt(cluster.port, ip);
      attempts.push(extra);
      assert.equal(extra.accepted, false, `connection ${CAP + 1} from one IP is refused`);
      // A connection from another address still gets in.
      const other = await tlsAttempt(cluster.port, '127.0.0.98');
      attempts.push(other);
      assert.equal(other.accepted, true);
    } finally {
      for (const a of attempts) a.close();
    }
    await waitFor(
      async () =>
        sample(await cluster.metrics(), 'entropy_connections_refused_total') === refusedBefore + 1,
      { what: 'the refusal is counted once' },
    );
  });

  it('restarts a killed worker; what was queued meanwhile is delivered', async () => {
    const alice = generateIdentity();
    const bob = generateIdentity();
    await new RelayClient({ url: cluster.url, ca, localAddress: ipB }).uploadBundle(bob, {
      preKeys: 1,
    });
    const sa = session(alice, ipA);
    const sb = session(bob, ipB, false);
    const got: string[] = [];
    sb.on('message', (m) => got.push(m.envelope));
    sb.on('queued', (q) => got.push(String(q.payload.envelope)));
    await Promise.all([sa.connect(), sb.connect()]);
    const before = cluster.workerPids();
    const victim = ownerOf([...before.values()], ipB, cluster.port)!;
    const slot = [...before].find(([, pid]) => pid === victim)![0];
    const from = cluster.lines.length;
    const bobClosed = new Promise((resolve) => sb.once('close', resolve));
    process.kill(victim, 'SIGKILL');
    await bobClosed;
    // Bob is offline: the survivor queues for him.
    const statuses = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await sa.send(bob.identityHash, `while down ${i}`)).status);
    assert.deepEqual(statuses, ['queued', 'queued', 'queued']);
    await waitFor(
      () =>
        cluster.lines
          .slice(from)
          .some((l) => l.msg === 'worker ready' && l.worker === slot && l.pid !== victim),
      { ...LONG, what: 'the worker is restarted' },
    );
    assert.ok(
      cluster.lines
        .slice(from)
        .some((l) => l.msg === 'worker died; restarting it' && l.pid === victim),
      'the death is logged',
    );
    const restarted = cluster.workerPids().get(slot)!;
    await sb.connect();
    await waitFor(() => got.length === 3, { what: 'the queued messages arrive' });
    assert.deepEqual(got.sort(), ['while down 0', 'while down 1', 'while down 2']);
    // Bob's address is served by its own worker again.
    assert.equal(ownerOf([restarted], ipB, cluster.port), restarted);
    assert.ok(sample(await cluster.metrics(), 'entropy_worker_restarts_total') >= 1);
    await Promise.all([sa.close(), sb.close()]);
  });
});
