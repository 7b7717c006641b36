// `entropy-relay serve --workers 2` as real processes on a real Redis: connections of one client
// IP land in one worker (seen in /proc: which process holds the socket), messages cross workers,
// a killed worker is restarted, SIGHUP replaces every worker without a failed connection or a
// lost message, SIGTERM drains, /metrics sums the workers, and the per-IP cap holds across them.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  readFileSync,
  readdirSync,
  readlinkSync,
  writeFileSync,
  mkdtempSync,
  rmSync,
} from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { workerCount } from '../src/cluster/index.js';
import { Rendezvous } from '../src/cluster/rendezvous.js';
import { generateIdentity, type Identity } from '../src/client/identity.js';
import { ConfigError, defaultConfig } from '../src/config.js';
import { RelayClient } from '../src/client/rest-client.js';
import { RelaySession } from '../src/client/ws-client.js';
import { testRedisStore } from './helpers/backends.js';
import { startRedisServer, type TestRedisServer } from './helpers/redis-server.js';
import { waitFor } from './helpers/wait.js';

const CLI = new URL('../src/cli.ts', import.meta.url).pathname;
const run = promisify(execFile);
/** Start-up of three processes under tsx on a busy machine takes a while. */
const START_MS = 90_000;
const LONG = { timeoutMs: 60_000 };

const LIMITS: Record<string, string> = {
  ENTROPY_POW_BASE: '2',
  ENTROPY_POW_LIMIT: '10000',
  ENTROPY_LIMIT_GLOBAL: '10000',
  ENTROPY_LIMIT_MSG_SEND: '10000',
  ENTROPY_LIMIT_MSG_RECEIVE: '10000',
  ENTROPY_LIMIT_WS_FRAMES: '100000',
  ENTROPY_LIMIT_WS_AUTH: '10000',
  ENTROPY_LIMIT_WS_AUTH_IDENTITY: '10000',
  ENTROPY_LIMIT_KEYS_UPLOAD: '1000',
  ENTROPY_JITTER_MS: '0-5',
};

interface LogLine {
  msg?: string;
  [key: string]: unknown;
}

class Cluster {
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];
  readonly exited: Promise<number | null>;
  port = 0;
  url = '';
  metricsUrl = '';

  constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        this.raw.push(line);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.lines.push({ msg: `unparsable: ${line}` });
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => this.raw.push(chunk.toString()));
  }

  static async start(env: Record<string, string>, flags: string[] = []): Promise<Cluster> {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', ...flags], {
      env: {
        PATH: process.env.PATH,
        ENTROPY_PORT: '0',
        ENTROPY_ADDR: '127.0.0.1',
        ENTROPY_METRICS_ADDR: '127.0.0.1:0',
        ENTROPY_WORKERS: '2',
        ...LIMITS,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const cluster = new Cluster(child);
    let code: number | null | undefined;
    void cluster.exited.then((c) => (code = c));
    await waitFor(() => code !== undefined || cluster.logged('Entropy relay listening'), {
      timeoutMs: START_MS,
      what: 'the relay listens',
    });
    if (code !== undefined) throw new Error(`exited with ${code}:\n${cluster.raw.join('\n')}`);
    const listening = cluster.lines.find((l) => l.msg === 'Entropy relay listening')!;
    cluster.port = listening.port as number;
    cluster.url = listening.url as string;
    const metricsAt = cluster.lines.find((l) => l.msg?.startsWith('Metrics at '))!;
    cluster.metricsUrl = metricsAt.msg!.slice('Metrics at '.length);
    return cluster;
  }

  logged(msg: string, from = 0): boolean {
    return this.lines.slice(from).some((l) => l.msg === msg);
  }

  /** Pid of every worker that said it is ready, by slot, latest first wins. */
  workerPids(): Map<number, number> {
    const pids = new Map<number, number>();
    for (const l of this.lines) {
      if (l.msg === 'worker ready') pids.set(l.worker as number, l.pid as number);
    }
    return pids;
  }

  async metrics(): Promise<string> {
    const { status, body } = await httpGet(this.metricsUrl);
    assert.equal(status, 200);
    return body;
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

function httpGet(url: string, localAddress?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, localAddress }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of one sample of the Prometheus text (0 when absent). */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** IPv4 "127.0.0.2" as /proc/net/tcp writes it: "0200007F". */
function procHex(ip: string): string {
  return ip
    .split('.')
    .reverse()
    .map((b) => Number(b).toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase();
}

/** Which of `pids` holds an established connection from `clientIp` to `port`. */
function ownerOf(pids: number[], clientIp: string, port: number): number | undefined {
  const want = `${procHex(clientIp)}:`;
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [local, remote, state, inode] = [f[1]!, f[2]!, f[3]!, f[9]!];
    const localPort = parseInt(local.split(':')[1]!, 16);
    if (state === '01' && localPort === port && remote.startsWith(want)) inodes.add(inode);
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/** Opens a TCP connection from `ip` and returns the worker pid that got it. */
async function workerOf(cluster: Cluster, ip: string): Promise<number> {
  const socket = netConnect({ host: '127.0.0.1', port: cluster.port, localAddress: ip });
  socket.on('error', () => undefined);
  try {
    let owner: number | undefined;
    const pids = [...cluster.workerPids().values()];
    await waitFor(() => (owner = ownerOf(pids, ip, cluster.port)) !== undefined, {
      what: `a worker holds the connection from ${ip}`,
    });
    return owner!;
  } finally {
    socket.destroy();
  }
}

/** Two loopback addresses served by different workers (which ones depends on the primary's
 *  random rendezvous key). */
async function ipsOnDifferentWorkers(cluster: Cluster, from = 2): Promise<[string, string]> {
  const first = `127.0.0.${from}`;
  const firstOwner = await workerOf(cluster, first);
  for (let i = from + 1; i < from + 40; i++) {
    const ip = `127.0.0.${i}`;
    if ((await workerOf(cluster, ip)) !== firstOwner) return [first, ip];
  }
  throw new Error('every address landed on one worker');
}

interface TlsAttempt {
  accepted: boolean;
  cert?: string;
  close(): void;
}

/** A TLS handshake from `ip`: accepted, or closed by the relay before it completed. */
function tlsAttempt(port: number, ip: string): Promise<TlsAttempt> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      socket: netConnect({ host: '127.0.0.1', port, localAddress: ip }),
      servername: 'localhost',
      rejectUnauthorized: false,
    });
    const close = () => socket.destroy();
    socket.once('secureConnect', () => {
      const der = socket.getPeerCertificate(true).raw;
      const pem = `-----BEGIN CERTIFICATE-----\n${der
        .toString('base64')
        .replace(/(.{64})/g, '$1\n')
        .replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
      resolve({ accepted: true, cert: pem, close });
    });
    socket.once('error', () => resolve({ accepted: false, close }));
    socket.once('close', () => resolve({ accepted: false, close }));
  });
}

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
          failures.push(`session from 127.0.3.${10 + (n % 40)}: ${String(err)}`);
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

describe('two workers behind a PROXY protocol load balancer', () => {
  let redis: TestRedisServer;
  let cluster: Cluster;
  const CAP = 2;

  before(
    async () => {
      redis = await startRedisServer();
      cluster = await Cluster.start(
        {
          ENTROPY_REDIS_URL: redis.url,
          ENTROPY_PROXY_PROTOCOL: 'on',
          ENTROPY_TRUST_PROXY: '127.0.0.1',
          ENTROPY_MAX_CONNS_PER_IP: String(CAP),
        },
        ['--no-tls'],
      );
    },
    { timeout: START_MS + 30_000 },
  );
  after(async () => {
    await cluster?.stop();
    await redis?.stop();
  });

  /** A connection from the balancer (127.0.0.1) announcing `client`; `then` is sent in the same
   *  packet as the header. Resolves with what the relay answered before closing. */
  function viaBalancer(client: string, then: string): { answer: Promise<string>; end(): void } {
    const socket = netConnect({ host: '127.0.0.1', port: cluster.port, localAddress: '127.0.0.1' });
    socket.on('error', () => undefined);
    socket.on('connect', () => socket.write(`PROXY TCP4 ${client} 127.0.0.1 40000 80\r\n${then}`));
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString()));
    return {
      answer: new Promise((resolve) => socket.once('close', () => resolve(answer))),
      end: () => socket.destroy(),
    };
  }

  it('hands a worker the bytes that came with the header', async () => {
    const { answer } = viaBalancer(
      '203.0.113.7',
      'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    assert.match(await answer, /^HTTP\/1\.1 200 /);
  });

  it('applies the per-IP cap to the header client, across workers', async () => {
    const held = [viaBalancer('198.51.100.9', ''), viaBalancer('198.51.100.9', '')];
    try {
      await waitFor(async () => sample(await cluster.metrics(), 'entropy_open_sockets') >= 2, {
        what: 'both connections are admitted',
      });
      const refusedBefore = sample(await cluster.metrics(), 'entropy_connections_refused_total');
      const third = viaBalancer(
        '198.51.100.9',
        'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      assert.equal(await third.answer, '', 'the third connection of one client is refused');
      await waitFor(
        async () =>
          sample(await cluster.metrics(), 'entropy_connections_refused_total') ===
          refusedBefore + 1,
        { what: 'the refusal is counted' },
      );
      // Another client behind the same balancer still gets in.
      const other = viaBalancer(
        '198.51.100.10',
        'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      assert.match(await other.answer, /^HTTP\/1\.1 200 /);
    } finally {
      for (const h of held) h.end();
    }
  });
});
