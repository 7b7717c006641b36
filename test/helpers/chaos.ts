// The chaos run shared by test/chaos.test.ts and `npm run chaos` (bench/chaos.ts): several relay
// processes on a Redis Cluster with replicas (WAIT 1), behind a TCP load balancer; pairs of
// clients (the project's client library) exchange tagged messages while clients drop and come
// back at random, one relay is killed with SIGKILL and one Redis master too. The report counts
// what the client library handed the applications against what the relay told the senders.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { get } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, relayEnv } from '../../bench/lib/procs.js';
import { generateIdentity } from '../../src/client/identity.js';
import { solvePowSync } from '../../src/client/pow-solver.js';
import { RelayClient } from '../../src/client/rest-client.js';
import { RelaySession } from '../../src/client/ws-client.js';
import { redisCli, startRedisCluster, type TestRedisCluster } from './redis-server.js';
import { waitFor } from './wait.js';

export interface ChaosOptions {
  /** Sender/recipient pairs. */
  pairs: number;
  /** Messages in all. */
  messages: number;
  /** Relay processes. */
  relays: number;
  killRelay: boolean;
  killMaster: boolean;
  /** ENTROPY_REDIS_WAIT_REPLICAS of the relays. */
  waitReplicas: number;
  /** Progress lines. */
  log: (line: string) => void;
}

export interface ChaosReport {
  sent: number;
  /** Sender-side outcome counts: delivered, queued, rejected:<reason>, error:<code>. */
  outcomes: Record<string, number>;
  /** Distinct messages the recipients' applications were handed. */
  received: number;
  /** Messages handed to an application more than once. */
  duplicates: number;
  /** Messages confirmed to their sender (queued or delivered) and never handed over. */
  lost: string[];
  /** Messages refused or failed on the sender's side and handed over all the same. */
  unconfirmedDelivered: number;
  /** Offline queues left in the cluster at the end. */
  leftInQueues: number;
  events: string[];
  durationMs: number;
}

interface RelayProcess {
  port: number;
  alive: boolean;
  child: ChildProcess;
  log: string[];
}

const LISTENING = 'Entropy relay listening';

async function spawnRelay(env: Record<string, string>): Promise<RelayProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const keep = (line: string) => {
    log.push(line);
    if (log.length > 200) log.shift();
  };
  createInterface({ input: child.stderr! }).on('line', keep);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`relay did not listen: ${log.join('\n')}`)),
      60_000,
    );
    child.once('exit', (code) => reject(new Error(`relay exited (${code}): ${log.join('\n')}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      keep(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === LISTENING && entry.port) {
          clearTimeout(timer);
          resolve(entry.port);
        }
      } catch {
        // not JSON
      }
    });
  });
  const relay: RelayProcess = { port, alive: true, child, log };
  child.once('exit', () => (relay.alive = false));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  await waitFor(() => httpStatus(port, '/ready').then((s) => s === 200), {
    timeoutMs: 60_000,
    what: 'a relay process is ready',
  });
  return relay;
}

function httpStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', () => resolve(0));
  });
}

/** A TCP load balancer: each connection goes to the next live relay (round robin). */
async function startBalancer(relays: RelayProcess[]): Promise<{ port: number; close(): void }> {
  let next = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const alive = relays.filter((r) => r.alive);
    if (alive.length === 0) return void client.destroy();
    const upstream = connect(alive[next++ % alive.length]!.port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close() {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

async function connectRetrying(
  session: RelaySession,
  until: number,
  stopped: () => boolean = () => false,
): Promise<void> {
  for (;;) {
    try {
      await session.connect();
      return;
    } catch (err) {
      if (Date.now() > until || stopped()) throw err;
      await sleep(randomInt(50, 300));
    }
  }
}

async function offlineQueues(cluster: TestRedisCluster): Promise<number> {
  let count = 0;
  for (const master of await cluster.masters()) {
    const keys = await redisCli(master.port, '--scan', '--pattern', 'offline:*');
    count += keys.split('\n').filter((k) => k.trim() !== '').length;
  }
  return count;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const events: string[] = [];
  const event = (what: string) => {
    const line = `+${((Date.now() - started) / 1000).toFixed(1)}s ${what}`;
    events.push(line);
    options.log(line);
  };
  const cluster = await startRedisCluster(3, 1);
  const relays: RelayProcess[] = [];
  const sessions: RelaySession[] = [];
  let balancer: { port: number; close(): void } | undefined;
  // A failed disruption (or the end of the run) stops every loop: nothing keeps running, and
  // nothing keeps the test process alive, after runChaos settles.
  let running = true;
  let failure: unknown;
  const check = () => {
    if (failure !== undefined) throw failure;
    if (!running) throw new Error('the chaos run has stopped');
  };
  try {
    const env = relayEnv(false, {
      ENTROPY_REDIS_CLUSTER: cluster.nodes.join(','),
      ENTROPY_REDIS_WAIT_REPLICAS: String(options.waitReplicas),
      ENTROPY_SECRET_SALT: randomBytes(32).toString('hex'),
      ENTROPY_JITTER_MS: '0-5',
      ENTROPY_LOG_LEVEL: 'info',
      // Every client comes from 127.0.0.1 (the balancer): per-IP limits out of the way.
      ENTROPY_LIMIT_KEYS_UPLOAD: '1000000000',
      ENTROPY_LIMIT_QUEUE_BYTES: '1000000000000',
    });
    for (let i = 0; i < options.relays; i++) relays.push(await spawnRelay(env));
    balancer = await startBalancer(relays);
    const url = `http://127.0.0.1:${balancer.port}`;
    event(`cluster and ${relays.length} relays up`);

    const handed = new Map<string, number>();
    const session = (identity = generateIdentity()) => {
      const s = new RelaySession({
        url,
        identity,
        acks: true,
        timeoutMs: 10_000,
        backoff: { minMs: 50, maxMs: 1000 },
        powSolver: async (seed, context, difficulty) => solvePowSync(seed, context, difficulty),
      });
      sessions.push(s);
      return s;
    };
    const rest = new RelayClient({ url });
    const pairs = await Promise.all(
      Array.from({ length: options.pairs }, async () => {
        const recipient = session();
        for (let attempt = 0; ; attempt++) {
          try {
            await rest.uploadBundle(recipient.identity, { preKeys: 1 });
            break;
          } catch (err) {
            if (attempt > 20) throw err;
            await sleep(200);
          }
        }
        const hand = (envelope: string) => handed.set(envelope, (handed.get(envelope) ?? 0) + 1);
        recipient.on('message', (m) => hand(m.envelope));
        recipient.on('queued', (q) => hand(String(q.payload.envelope)));
        const sender = session();
        const until = Date.now() + 60_000;
        await Promise.all([connectRetrying(sender, until), connectRetrying(recipient, until)]);
        return { sender, recipient, to: recipient.identity.identityHash };
      }),
    );
    event(`${pairs.length} pairs connected`);

    // Clients drop and come back at random while messages flow.
    const churn = Promise.all(
      sessions.map(async (s) => {
        while (running) {
          await sleep(randomInt(1000, 8000));
          if (!running) break;
          await s.close();
          await sleep(randomInt(50, 600));
          await connectRetrying(s, Date.now() + 120_000, () => !running).catch(() => undefined);
        }
      }),
    );

    const outcomes = new Map<string, string>();
    const perPair = Math.ceil(options.messages / pairs.length);
    let sent = 0;
    const disruptions: Promise<void>[] = [];
    const disruptAt = (fraction: number, what: () => Promise<void>) => {
      let done = false;
      return () => {
        if (done || sent < options.messages * fraction) return;
        done = true;
        disruptions.push(
          what().catch((err: unknown) => {
            failure ??= err;
          }),
        );
      };
    };
    const killRelay = disruptAt(0.35, async () => {
      const victim = relays[relays.length - 1]!;
      victim.child.kill('SIGKILL');
      event(`relay on port ${victim.port} killed (SIGKILL)`);
    });
    const killMaster = disruptAt(0.6, async () => {
      const victim = await cluster.ownerOf(`offline:{${pairs[0]!.to}}`);
      await victim.kill();
      event(`Redis master on port ${victim.port} killed (SIGKILL)`);
      await waitFor(async () => (await cluster.masters()).length === 3, {
        timeoutMs: 60_000,
        what: 'a replica takes over',
      });
      event('a replica took over');
      await cluster.rejoin(victim);
      event(`port ${victim.port} rejoined as a replica`);
    });

    await Promise.all(
      pairs.map(async (pair, p) => {
        const inFlight = new Set<Promise<void>>();
        for (let n = 0; n < perPair && sent < options.messages; n++) {
          const deadline = Date.now() + 120_000;
          while (pair.sender.state !== 'open') {
            check();
            if (Date.now() > deadline) throw new Error(`sender ${p} stays disconnected`);
            await sleep(20);
          }
          check();
          const envelope = `p${p}-m${n}`;
          sent++;
          if (options.killRelay) killRelay();
          if (options.killMaster) killMaster();
          const one = pair.sender.send(pair.to, envelope).then(
            (status) =>
              void outcomes.set(
                envelope,
                status.status === 'rejected' ? `rejected:${status.reason}` : status.status,
              ),
            (err: { code?: string }) => void outcomes.set(envelope, `error:${err.code ?? '?'}`),
          );
          inFlight.add(one);
          void one.finally(() => inFlight.delete(one));
          if (inFlight.size >= 8) await Promise.race(inFlight);
          await sleep(randomInt(0, 10));
        }
        await Promise.all(inFlight);
      }),
    );
    event(`${sent} messages sent`);
    await Promise.all(disruptions);
    check();
    running = false;
    await churn;
    await Promise.all(sessions.map((s) => connectRetrying(s, Date.now() + 60_000)));
    event('every client connected again');

    const confirmed = [...outcomes].filter(([, o]) => o === 'queued' || o === 'delivered');
    await waitFor(() => confirmed.every(([envelope]) => handed.has(envelope)), {
      timeoutMs: 30_000,
      what: 'every confirmed message is handed over',
    }).catch(() => undefined);
    let leftInQueues = await offlineQueues(cluster);
    await waitFor(async () => (leftInQueues = await offlineQueues(cluster)) === 0, {
      timeoutMs: 30_000,
      what: 'the offline queues are empty',
    }).catch(() => undefined);
    event(`done; ${leftInQueues} offline queues left`);

    const counts: Record<string, number> = {};
    for (const o of outcomes.values()) counts[o] = (counts[o] ?? 0) + 1;
    return {
      sent,
      outcomes: counts,
      received: handed.size,
      duplicates: [...handed.values()].filter((n) => n > 1).length,
      lost: confirmed.filter(([envelope]) => !handed.has(envelope)).map(([e, o]) => `${e}:${o}`),
      unconfirmedDelivered: [...outcomes].filter(
        ([envelope, o]) => o !== 'queued' && o !== 'delivered' && handed.has(envelope),
      ).length,
      leftInQueues,
      events,
      durationMs: Date.now() - started,
    };
  } finally {
    running = false;
    await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
    balancer?.close();
    for (const relay of relays) relay.child.kill('SIGKILL');
    await cluster.stop();
  }
}
