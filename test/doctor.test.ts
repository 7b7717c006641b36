// `entropy-relay doctor`: the real command against real redis-server instances, real certificate
// files and real ports; its exit status and the verdict of every line.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CheckResult } from '../src/doctor/check.js';
import { ntpCheck, skewVerdict } from '../src/doctor/clock.js';
import { configChecks } from '../src/doctor/config.js';
import { openFilesVerdict, parseOpenFileLimit } from '../src/doctor/limits.js';
import { slotsVerdict, versionVerdict } from '../src/doctor/redis.js';
import { estimatedBits, secretChecks } from '../src/doctor/secret.js';
import { parseSentinelEntry, sentinelVerdicts, type SentinelView } from '../src/doctor/sentinel.js';
import { defaultConfig, loadConfig, type Config } from '../src/config.js';
import { runDoctor } from '../src/doctor/index.js';
import { DAY_MS } from '../src/time.js';
import { fingerprintOf, generateSelfSigned, loadTlsMaterial } from '../src/tls.js';
import {
  freePort,
  redisCli,
  startClusterNode,
  startRedisCluster,
  startRedisSentinels,
  startRedisServer,
  unstartedRedisServer,
  type TestSentinelSetup,
} from './helpers/redis-server.js';
import { waitFor } from './helpers/wait.js';

const CLI = new URL('../src/cli.ts', import.meta.url).pathname;
/** Every run: no fixed port (the machine is shared) unless a test says otherwise. */
const BASE = ['--port', '0', '--metrics-addr', 'off'];
const STRONG_SALT = randomBytes(32).toString('hex');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  lines: CheckResult[];
}

/**
 * Runs `entropy-relay doctor --json` (or plain text with `text`), in a shell with `ulimit`, with
 * `bin` (e.g. a stand-in `timedatectl`) first in PATH.
 */
function doctor(
  args: string[],
  options: { text?: boolean; ulimit?: number; bin?: string } = {},
): Promise<Run> {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env))
    if (!name.startsWith('ENTROPY_')) env[name] = value;
  if (options.bin) env.PATH = `${options.bin}:${env.PATH ?? ''}`;
  const argv = [
    '--import',
    'tsx',
    CLI,
    'doctor',
    ...(options.text ? [] : ['--json']),
    ...BASE,
    ...args,
  ];
  const child =
    options.ulimit === undefined
      ? spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(
          'sh',
          ['-c', `ulimit -n ${options.ulimit} && exec "$0" "$@"`, process.execPath, ...argv],
          { env, stdio: ['ignore', 'pipe', 'pipe'] },
        );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  return new Promise((resolve) =>
    child.on('close', (status) => {
      const lines = options.text
        ? []
        : stdout
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as CheckResult);
      resolve({ status, stdout, stderr, lines });
    }),
  );
}

/** The checks in this process (as the command runs them), for what needs no exit status. */
async function check(
  flags: Partial<Record<keyof Config, string | boolean>>,
  expectedSessions = 10,
): Promise<Run> {
  const config = loadConfig({}, { port: '0', metricsAddr: 'off', ...flags });
  const lines = await runDoctor(config, { expectedSessions });
  const stdout = lines.map((l) => JSON.stringify(l)).join('\n');
  return { status: lines.some((l) => l.verdict === 'fail') ? 1 : 0, stdout, stderr: '', lines };
}

/** The verdict of the one line named `check` (fails when there is not exactly one). */
function verdict(run: Run, check: string): string {
  const found = run.lines.filter((l) => l.check === check);
  assert.equal(found.length, 1, `one ${check} line in:\n${run.stdout}${run.stderr}`);
  return found[0]!.verdict;
}

function detail(run: Run, check: string): string {
  return run.lines.find((l) => l.check === check)?.detail ?? '';
}

const checks = (run: Run) => run.lines.map((l) => l.check);

describe('entropy-relay doctor', () => {
  let dir: string;
  const file = (name: string) => join(dir, name);
  const tlsFlags = (cert: string) => ({
    tlsCert: file(cert),
    tlsKey: file(cert.replace('cert', 'key')),
  });
  const tlsArgs = (cert: string) => {
    const { tlsCert, tlsKey } = tlsFlags(cert);
    return ['--tls-cert', tlsCert, '--tls-key', tlsKey];
  };

  /** A directory whose `timedatectl` answers the doctor's question with `answer`. */
  const ntpBin = (answer: string) => join(dir, `ntp-${answer}`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'entropy-doctor-'));
    for (const answer of ['yes', 'no']) {
      await mkdir(ntpBin(answer));
      const script = join(ntpBin(answer), 'timedatectl');
      await writeFile(
        script,
        `#!/bin/sh\n[ "$*" = "show -p NTPSynchronized --value" ] || exit 1\necho ${answer}\n`,
      );
      await chmod(script, 0o755);
    }
    const now = Date.now();
    const write = async (name: string, m: { cert: string; key: string }) => {
      await writeFile(file(`${name}-cert.pem`), m.cert);
      await writeFile(file(`${name}-key.pem`), m.key);
    };
    const valid = await generateSelfSigned();
    await write('valid', valid);
    await write(
      'expired',
      await generateSelfSigned({
        notBefore: new Date(now - 40 * DAY_MS),
        notAfter: new Date(now - DAY_MS),
      }),
    );
    await write('soon', await generateSelfSigned({ notAfter: new Date(now + 10 * DAY_MS) }));
    // The valid certificate with another certificate's key.
    const other = await generateSelfSigned();
    await write('mismatched', { cert: valid.cert, key: other.key });
    await write('garbage', { cert: 'not a certificate\n', key: valid.key });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  describe('with a volatile, bounded Redis', () => {
    let redis: Awaited<ReturnType<typeof startRedisServer>>;
    before(async () => {
      redis = await startRedisServer(['--maxmemory', '64mb', '--maxmemory-policy', 'noeviction']);
    });
    after(() => redis.stop());

    it('passes a sound configuration: every check ok, exit 0', async () => {
      const run = await doctor(
        [
          ...tlsArgs('valid-cert.pem'),
          '--redis-url',
          redis.url,
          '--secret-salt',
          STRONG_SALT,
          '--expected-sessions',
          '10',
        ],
        { bin: ntpBin('yes') },
      );
      assert.equal(run.status, 0, run.stdout + run.stderr);
      assert.deepEqual(checks(run), [
        'config',
        'secret.salt',
        'limits.open-files',
        'port.main',
        'tls.files',
        'tls.parse',
        'tls.key-match',
        'tls.expiry',
        'tls.handshake',
        'redis.reach',
        'redis.version',
        'redis.persistence',
        'redis.maxmemory',
        'redis.eviction',
        'redis.role',
        'clock.system',
        'clock.ntp',
        'clock.redis',
      ]);
      // The open-file limit is the machine's own: never a failure for 10 sessions.
      const notOk = run.lines.filter(
        (l) => l.verdict !== 'ok' && !(l.check === 'limits.open-files' && l.verdict === 'warn'),
      );
      assert.deepEqual(notOk, []);
      assert.match(detail(run, 'tls.handshake'), /^TLSv1\.3 /);
      assert.match(detail(run, 'tls.parse'), /DNS:localhost/);
      assert.match(detail(run, 'tls.expiry'), /36[45] days left/);
      assert.equal(detail(run, 'clock.ntp'), 'NTP-synchronised (timedatectl)');
    });

    it('prints one "verdict check detail" line per check and a summary; FAIL exits 1', async () => {
      // Under `ulimit -n 512` (a shell's, as the relay's service would have it).
      const run = await doctor([...tlsArgs('expired-cert.pem'), '--redis-url', redis.url], {
        text: true,
        ulimit: 512,
        bin: ntpBin('no'),
      });
      assert.equal(run.status, 1, run.stdout + run.stderr);
      const lines = run.stdout.trimEnd().split('\n');
      const summary = lines.pop()!;
      assert.equal(lines.length, 18, run.stdout);
      for (const line of lines) assert.match(line, /^(ok {2}|warn|FAIL) [a-z.-]+ +\S/);
      const line = (name: string) => lines.find((l) => l.split(/ +/)[1] === name) ?? '';
      assert.match(line('tls.expiry'), /^FAIL tls\.expiry +expired on /);
      assert.match(
        line('limits.open-files'),
        /^FAIL limits\.open-files +open-file limit 512 \(hard 512\) for 10000 expected/,
      );
      assert.match(line('secret.salt'), /^warn .*kept in Redis/);
      assert.match(line('redis.persistence'), /^ok /);
      assert.match(
        line('clock.ntp'),
        /^warn clock\.ntp +timedatectl says the clock is not NTP-sync/,
      );
      assert.deepEqual(
        lines.filter((l) => l.startsWith('FAIL')).map((l) => l.split(/ +/)[1]),
        ['limits.open-files', 'tls.expiry'],
      );
      assert.match(summary, /^18 checks: 14 ok, 2 warn, 2 FAIL$/);
    });
  });

  it('fails an expired certificate, a mismatched key, unreadable or garbage files', async () => {
    const expired = await check(tlsFlags('expired-cert.pem'));
    assert.equal(expired.status, 1);
    assert.equal(verdict(expired, 'tls.expiry'), 'fail');
    assert.match(detail(expired, 'tls.expiry'), /^expired on /);
    assert.equal(verdict(expired, 'tls.key-match'), 'ok');

    const mismatched = await check(tlsFlags('mismatched-cert.pem'));
    assert.equal(mismatched.status, 1);
    assert.equal(verdict(mismatched, 'tls.parse'), 'ok');
    assert.equal(verdict(mismatched, 'tls.key-match'), 'fail');
    assert.ok(!checks(mismatched).includes('tls.handshake'));

    const missing = await check(tlsFlags('absent-cert.pem'));
    assert.equal(missing.status, 1);
    assert.equal(verdict(missing, 'tls.files'), 'fail');
    assert.match(detail(missing, 'tls.files'), /ENOENT.*absent-cert\.pem/);

    const garbage = await check(tlsFlags('garbage-cert.pem'));
    assert.equal(garbage.status, 1);
    assert.equal(verdict(garbage, 'tls.files'), 'ok');
    assert.equal(verdict(garbage, 'tls.parse'), 'fail');
    assert.match(detail(garbage, 'tls.parse'), /garbage-cert\.pem: not a PEM certificate/);
  });

  it('serve loads the same material through the same inspection', async () => {
    const valid = await loadTlsMaterial(file('valid-cert.pem'), file('valid-key.pem'));
    assert.equal(valid.fingerprint, fingerprintOf(valid.cert));
    await assert.rejects(loadTlsMaterial(file('mismatched-cert.pem'), file('mismatched-key.pem')), {
      name: 'TlsMaterialError',
      part: 'match',
      message: /does not belong to the certificate/,
    });
    await assert.rejects(loadTlsMaterial(file('garbage-cert.pem'), file('garbage-key.pem')), {
      part: 'certificate',
    });
  });

  it('warns about a certificate expiring within 30 days', async () => {
    const run = await check(tlsFlags('soon-cert.pem'));
    assert.equal(run.status, 0, run.stdout);
    assert.equal(verdict(run, 'tls.expiry'), 'warn');
    assert.match(detail(run, 'tls.expiry'), /\((9|10) days left\): renew it/);
    assert.equal(verdict(run, 'tls.handshake'), 'ok');
  });

  it('warns without a certificate (self-signed at every start) and without TLS', async () => {
    const generated = await check({});
    assert.equal(verdict(generated, 'tls.certificate'), 'warn');
    assert.equal(verdict(generated, 'tls.handshake'), 'ok');
    const plain = await check({ tls: false });
    assert.deepEqual(
      plain.lines.filter((l) => l.check.startsWith('tls')).map((l) => [l.check, l.verdict]),
      [['tls', 'warn']],
    );
  });

  it('fails a persistent Redis and warns when it has no maxmemory', async () => {
    const redis = await startRedisServer(['--save', '3600 1', '--appendonly', 'yes']);
    try {
      const run = await check({ redisUrl: redis.url });
      assert.equal(run.status, 1);
      assert.equal(verdict(run, 'redis.reach'), 'ok');
      assert.equal(verdict(run, 'redis.persistence'), 'fail');
      assert.match(detail(run, 'redis.persistence'), /RDB \(save "3600 1"\).*AOF/);
      assert.equal(verdict(run, 'redis.maxmemory'), 'warn');
      assert.match(detail(run, 'redis.maxmemory'), /unbounded/);
      assert.equal(verdict(run, 'redis.eviction'), 'ok');
      assert.equal(verdict(run, 'redis.version'), 'ok');
    } finally {
      await redis.stop();
    }
  });

  it('fails a Redis that may evict', async () => {
    const redis = await startRedisServer([
      '--maxmemory',
      '64mb',
      '--maxmemory-policy',
      'allkeys-lru',
    ]);
    try {
      const run = await check({ redisUrl: redis.url });
      assert.equal(run.status, 1);
      assert.equal(verdict(run, 'redis.persistence'), 'ok');
      assert.equal(verdict(run, 'redis.maxmemory'), 'ok');
      assert.equal(verdict(run, 'redis.eviction'), 'fail');
      assert.match(detail(run, 'redis.eviction'), /allkeys-lru.*noeviction/);
    } finally {
      await redis.stop();
    }
  });

  it('fails an unreachable Redis and checks nothing else of it', async () => {
    const nobody = await unstartedRedisServer();
    const run = await check({ redisUrl: nobody.url });
    assert.equal(run.status, 1);
    assert.equal(verdict(run, 'redis.reach'), 'fail');
    assert.match(detail(run, 'redis.reach'), /ECONNREFUSED/);
    assert.deepEqual(
      checks(run).filter((c) => c.startsWith('redis.') || c === 'clock.redis'),
      ['redis.reach'],
    );
    assert.equal(verdict(run, 'clock.system'), 'ok');
  });

  it('on a Redis Cluster: slots covered, a warning for masters without replicas', async () => {
    const cluster = await startRedisCluster(3);
    try {
      const run = await check({ redisCluster: cluster.nodes.join(',') });
      assert.equal(run.status, 0, run.stdout);
      assert.equal(verdict(run, 'redis.reach'), 'ok');
      assert.equal(verdict(run, 'redis.cluster.slots'), 'ok');
      assert.equal(verdict(run, 'redis.cluster.replicas'), 'warn');
      assert.match(detail(run, 'redis.cluster.replicas'), /^3 of 3 masters have no replica/);
      assert.equal(verdict(run, 'redis.persistence'), 'ok');
      assert.equal(verdict(run, 'clock.redis'), 'ok');

      // One master gets a replica: that master is no longer named.
      const master = cluster.servers.find((s) => `127.0.0.1:${s.port}` === cluster.nodes[0])!;
      await cluster.addReplica(master);
      // Every node learns of the new replica by gossip: ask until the one asked has.
      let replicated = await check({ redisCluster: cluster.nodes.join(',') });
      await waitUntil(async () => {
        replicated = await check({ redisCluster: cluster.nodes.join(',') });
        return !detail(replicated, 'redis.cluster.replicas').startsWith('3 of 3');
      });
      const replicas = detail(replicated, 'redis.cluster.replicas');
      assert.equal(verdict(replicated, 'redis.cluster.replicas'), 'warn');
      assert.match(replicas, /^2 of 3 masters have no replica/);
      assert.ok(!replicas.includes(cluster.nodes[0]!), replicas);
    } finally {
      await cluster.stop();
    }
  });

  it('fails a cluster with uncovered slots, and a cluster node given as a URL', async () => {
    const { server: node } = await startClusterNode();
    try {
      await redisCli(node.port, 'cluster', 'addslotsrange', '0', '8000');
      const run = await check({ redisCluster: `127.0.0.1:${node.port}` });
      assert.equal(run.status, 1);
      assert.equal(verdict(run, 'redis.reach'), 'fail');
      assert.equal(verdict(run, 'redis.cluster.slots'), 'fail');
      assert.match(detail(run, 'redis.cluster.slots'), /8001 of 16384 slots assigned/);

      const asUrl = await check({ redisUrl: node.url });
      assert.equal(asUrl.status, 1);
      assert.equal(verdict(asUrl, 'redis.topology'), 'fail');
      assert.match(detail(asUrl, 'redis.topology'), /ENTROPY_REDIS_CLUSTER/);
    } finally {
      await node.stop();
    }
  });

  describe('with Redis Sentinel (a master, a replica, three Sentinels)', () => {
    let setup: TestSentinelSetup;
    const sentinelFlags = (name = setup.name) => ({
      redisSentinels: setup.sentinels.join(','),
      redisSentinelName: name,
    });
    before(async () => {
      setup = await startRedisSentinels({
        replicas: 1,
        sentinels: 3,
        extraArgs: ['--maxmemory', '64mb', '--maxmemory-policy', 'noeviction'],
      });
    });
    after(() => setup.stop());

    it('checks the master they name as any master, and the Sentinels: exit 0', async () => {
      const args = ['--redis-sentinels', setup.sentinels.join(','), '--secret-salt', STRONG_SALT];
      const run = await doctor(args, { bin: ntpBin('yes') });
      assert.equal(run.status, 0, run.stdout + run.stderr);
      const redisLines = run.lines.filter((l) => l.check.startsWith('redis.'));
      assert.deepEqual(
        redisLines.map((l) => [l.check, l.verdict]),
        [
          ['redis.reach', 'ok'],
          ['redis.version', 'ok'],
          ['redis.persistence', 'ok'],
          ['redis.maxmemory', 'ok'],
          ['redis.eviction', 'ok'],
          ['redis.role', 'ok'],
          ['redis.sentinel.reach', 'ok'],
          ['redis.sentinel.master', 'ok'],
          ['redis.sentinel.replicas', 'ok'],
          ['redis.sentinel.quorum', 'ok'],
        ],
        run.stdout,
      );
      const [master, replica] = setup.servers;
      assert.match(detail(run, 'redis.reach'), /^master "mymaster" of Sentinels .*\(sentinel\)/);
      assert.equal(detail(run, 'redis.role'), 'master with 1 replica');
      assert.equal(detail(run, 'redis.sentinel.reach'), '3 of 3 Sentinels answered');
      assert.equal(
        detail(run, 'redis.sentinel.master'),
        `"mymaster" is 127.0.0.1:${master!.port} (master)`,
      );
      assert.equal(
        detail(run, 'redis.sentinel.replicas'),
        `1 replica to promote (127.0.0.1:${replica!.port})`,
      );
      assert.equal(
        detail(run, 'redis.sentinel.quorum'),
        'quorum 2, 3 of 3 Sentinels answer for "mymaster"',
      );
      assert.equal(verdict(run, 'clock.redis'), 'ok');

      // Sentinels mean Redis: an unset salt is a warning (the instances share one kept there).
      const unsalted = await check(sentinelFlags());
      assert.equal(verdict(unsalted, 'secret.salt'), 'warn');
      assert.match(detail(unsalted, 'secret.salt'), /kept in Redis/);
    });

    it('fails a master name no Sentinel watches, and says so', async () => {
      const run = await check(sentinelFlags('nosuchmaster'));
      assert.equal(run.status, 1);
      assert.equal(verdict(run, 'redis.reach'), 'fail');
      assert.equal(verdict(run, 'redis.sentinel.reach'), 'ok');
      assert.equal(verdict(run, 'redis.sentinel.master'), 'fail');
      assert.match(detail(run, 'redis.sentinel.master'), /no Sentinel watches .*"nosuchmaster"/);
      assert.ok(!checks(run).includes('redis.persistence'), run.stdout);
    });

    it('fails when fewer Sentinels answer than the quorum, then when none does', async () => {
      await Promise.all([setup.watchers[1]!.stop(), setup.watchers[2]!.stop()]);
      const few = await check(sentinelFlags());
      assert.equal(few.status, 1, few.stdout);
      assert.equal(verdict(few, 'redis.reach'), 'ok', 'the one left still names the master');
      assert.equal(verdict(few, 'redis.sentinel.reach'), 'warn');
      assert.match(
        detail(few, 'redis.sentinel.reach'),
        /^1 of 3 Sentinels answered \(127\.0\.0\.1:\d+: .*ECONNREFUSED/,
      );
      assert.equal(verdict(few, 'redis.sentinel.quorum'), 'fail');
      assert.match(detail(few, 'redis.sentinel.quorum'), /^quorum 2, 1 of 3 Sentinels answer/);
      assert.equal(verdict(few, 'redis.persistence'), 'ok');

      await setup.watchers[0]!.stop();
      const none = await check(sentinelFlags());
      assert.equal(none.status, 1);
      assert.equal(verdict(none, 'redis.reach'), 'fail');
      assert.equal(verdict(none, 'redis.sentinel.reach'), 'fail');
      assert.match(detail(none, 'redis.sentinel.reach'), /^none of 3 Sentinels answered/);
      assert.deepEqual(
        checks(none).filter((c) => c.startsWith('redis.')),
        ['redis.reach', 'redis.sentinel.reach'],
      );
    });
  });

  it('warns about a Sentinel master without a replica (nothing to promote)', async () => {
    const setup = await startRedisSentinels({
      replicas: 0,
      sentinels: 1,
      extraArgs: ['--maxmemory', '64mb', '--maxmemory-policy', 'noeviction'],
    });
    try {
      const run = await check({ redisSentinels: setup.sentinels[0]!, secretSalt: STRONG_SALT });
      assert.equal(run.status, 0, run.stdout);
      assert.equal(verdict(run, 'redis.role'), 'ok');
      assert.equal(detail(run, 'redis.role'), 'master with 0 replicas');
      assert.equal(verdict(run, 'redis.sentinel.replicas'), 'warn');
      assert.match(detail(run, 'redis.sentinel.replicas'), /^no replica to promote: losing/);
      assert.equal(verdict(run, 'redis.sentinel.quorum'), 'ok');
      assert.equal(
        detail(run, 'redis.sentinel.quorum'),
        'quorum 1, 1 of 1 Sentinels answer for "mymaster"',
      );
    } finally {
      await setup.stop();
    }
  });

  describe('ports', () => {
    let taken: Server;
    let port: number;
    before(async () => {
      taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      port = (taken.address() as { port: number }).port;
    });
    after(() => new Promise((resolve) => taken.close(resolve)));

    it('fails a port in use, for the relay and for the metrics listener', async () => {
      const main = await check({ addr: '127.0.0.1', port: String(port) });
      assert.equal(main.status, 1);
      assert.equal(verdict(main, 'port.main'), 'fail');
      assert.match(
        detail(main, 'port.main'),
        new RegExp(`127\\.0\\.0\\.1:${port}: already in use`),
      );

      const free = await freePort();
      const metrics = await check({
        addr: '127.0.0.1',
        port: String(free),
        metricsAddr: `127.0.0.1:${port}`,
      });
      assert.equal(metrics.status, 1);
      assert.equal(verdict(metrics, 'port.main'), 'ok');
      assert.equal(verdict(metrics, 'port.metrics'), 'fail');
    });
  });

  it('exits 2 on a configuration that does not load, with a FAIL line naming the variable', async () => {
    const [run, sessions] = await Promise.all([
      doctor(['--pow-base', '1']),
      doctor(['--expected-sessions', 'many']),
    ]);
    assert.equal(run.status, 2);
    assert.deepEqual(
      run.lines.map((l) => [l.check, l.verdict]),
      [['config', 'fail']],
    );
    assert.match(detail(run, 'config'), /ENTROPY_POW_BASE.*at least 2/);
    assert.equal(sessions.status, 2);
    assert.match(detail(sessions, 'doctor'), /--expected-sessions/);
  });

  it('warns about unwise settings, and a short salt fails', async () => {
    const run = await check({
      powBase: '7',
      limitMsgSend: '50',
      compat: 'v1',
      allowedOrigins: '*',
      secretSalt: 'short',
    });
    assert.equal(run.status, 1);
    assert.equal(verdict(run, 'config'), 'ok');
    const warnings = run.lines.filter((l) => l.check.startsWith('config.'));
    assert.deepEqual(
      warnings.map((l) => [l.check, l.verdict]),
      [
        ['config.pow', 'warn'],
        ['config.limits', 'warn'],
        ['config.compat', 'warn'],
        ['config.origins', 'warn'],
      ],
    );
    assert.equal(verdict(run, 'secret.salt'), 'fail');
    assert.equal(verdict(await check({}), 'config'), 'ok');
    assert.ok(!checks(await check({})).some((c) => c.startsWith('config.')), 'defaults are sane');
  });
});

describe('doctor verdicts', () => {
  it('secret: length, estimated entropy, unset with and without Redis', () => {
    const salt = (secretSalt: string | undefined, redisUrl?: string) =>
      secretChecks({ ...defaultConfig(), secretSalt, redisUrl })[0]!;
    assert.equal(salt('x'.repeat(31)).verdict, 'fail');
    assert.equal(salt('ab'.repeat(20)).verdict, 'warn', '40 characters, 40 bits');
    assert.equal(salt(randomBytes(16).toString('hex')).verdict, 'ok', '32 random hex digits');
    assert.equal(salt(randomBytes(32).toString('base64')).verdict, 'ok');
    assert.equal(salt(undefined).verdict, 'ok');
    assert.equal(salt(undefined, 'redis://127.0.0.1:1').verdict, 'warn');
    const sentinels = { ...defaultConfig(), redisSentinels: ['127.0.0.1:1'] };
    assert.equal(secretChecks(sentinels)[0]!.verdict, 'warn', 'Sentinels are Redis too');
    assert.equal(estimatedBits('aaaa'), 0);
    assert.equal(estimatedBits('abcd'), 8);
    const admin = secretChecks({ ...defaultConfig(), adminToken: 'admin' });
    assert.equal(admin.find((r) => r.check === 'secret.admin-token')?.verdict, 'warn');
  });

  it('config: a recipient queue above all offline storage is noted for the memory store only', () => {
    const big = { ...defaultConfig(), queueMaxBytes: 2_000_000, queueTotalBytes: 1_000_000 };
    const notes = (c: Config) => configChecks(c).filter((r) => r.check === 'config.queues');
    assert.equal(notes(big).length, 1);
    assert.equal(notes({ ...big, redisUrl: 'redis://127.0.0.1:1' }).length, 0);
    assert.equal(notes({ ...big, redisSentinels: ['127.0.0.1:1'] }).length, 0);
  });

  it('open files: /proc/self/limits parsed, limit against sessions plus headroom', () => {
    const text =
      'Limit                     Soft Limit           Hard Limit           Units     \n' +
      'Max processes             63438                63438                processes \n' +
      'Max open files            1024                 524288               files     \n';
    assert.deepEqual(parseOpenFileLimit(text), { soft: 1024, hard: 524288 });
    assert.deepEqual(parseOpenFileLimit('Max open files  unlimited  unlimited  files'), {
      soft: Infinity,
      hard: Infinity,
    });
    assert.equal(parseOpenFileLimit('nothing'), undefined);
    assert.equal(openFilesVerdict({ soft: 1024, hard: 4096 }, 10_000).verdict, 'fail');
    assert.equal(openFilesVerdict({ soft: 10_500, hard: 10_500 }, 10_000).verdict, 'warn');
    assert.equal(openFilesVerdict({ soft: 65_536, hard: 65_536 }, 10_000).verdict, 'ok');
  });

  it('NTP: warn only when timedatectl says "no"; unknown without it', async () => {
    const answer = (text: string) => ntpCheck(async () => text);
    assert.equal((await answer('yes')).verdict, 'ok');
    assert.equal((await answer('no')).verdict, 'warn');
    assert.match((await answer('no')).detail, /not NTP-synchronised/);
    assert.equal((await answer('')).verdict, 'ok');
    const absent = await ntpCheck(async () => {
      throw Object.assign(new Error('spawn timedatectl ENOENT'), { code: 'ENOENT' });
    });
    assert.deepEqual(
      [absent.verdict, absent.detail],
      ['ok', 'NTP synchronisation unknown (no timedatectl here)'],
    );
    const noSystemd = await ntpCheck(async () => {
      throw Object.assign(new Error('Command failed'), {
        code: 1,
        stderr: 'System has not been booted with systemd as init system (PID 1).\nmore\n',
      });
    });
    assert.equal(noSystemd.verdict, 'ok');
    assert.match(
      noSystemd.detail,
      /unknown \(timedatectl: System has not been booted .*\(PID 1\)\.\)$/,
    );
  });

  it('Sentinel verdicts: disagreement, a master seen down, fields of SENTINEL MASTER', () => {
    const entry = (port: number, flags: string, quorum = 2) =>
      parseSentinelEntry([
        'name',
        'm',
        'ip',
        '10.0.0.1',
        'port',
        String(port),
        'flags',
        flags,
        'quorum',
        String(quorum),
      ]);
    assert.deepEqual(entry(6380, 'master'), {
      address: '10.0.0.1:6380',
      flags: ['master'],
      quorum: 2,
    });
    const replica = entry(6381, 'slave');
    const view = (node: string, master: ReturnType<typeof entry>): SentinelView => ({
      node,
      master,
      replicas: [replica],
    });
    const verdicts = (views: SentinelView[]) =>
      Object.fromEntries(sentinelVerdicts('m', views).map((r) => [r.check, r.verdict]));
    assert.deepEqual(
      verdicts([view('a:1', entry(6380, 'master')), view('b:1', entry(6390, 'master'))]),
      {
        'redis.sentinel.reach': 'ok',
        'redis.sentinel.master': 'warn',
        'redis.sentinel.replicas': 'ok',
        'redis.sentinel.quorum': 'ok',
      },
    );
    const down = [view('a:1', entry(6380, 'master,s_down')), view('b:1', entry(6380, 'master'))];
    assert.equal(verdicts(down)['redis.sentinel.master'], 'fail');
    const staleReplica = {
      node: 'a:1',
      master: entry(6380, 'master'),
      replicas: [entry(6381, 'slave,s_down')],
    };
    const [, , replicas] = sentinelVerdicts('m', [staleReplica]);
    assert.deepEqual(
      [replicas!.verdict, replicas!.detail.split(':')[0]],
      ['warn', 'no replica to promote; 1 more down'],
    );
  });

  it('clock skew warns over 2 s either way', () => {
    assert.equal(skewVerdict(1999, 3).verdict, 'ok');
    assert.equal(skewVerdict(2500, 3).verdict, 'warn');
    assert.equal(skewVerdict(-2500, 3).verdict, 'warn');
    assert.match(skewVerdict(-2500, 3).detail, /behind this host by 2500 ms/);
  });

  it('Redis version 7 or newer on every node; slots from CLUSTER INFO', () => {
    assert.equal(versionVerdict(['7.0.15', '7.2.4']).verdict, 'ok');
    assert.equal(versionVerdict(['7.0.15', '6.2.14']).verdict, 'fail');
    assert.match(versionVerdict(['6.2.14']).detail, /^Redis 6\.2\.14: the relay needs Redis 7\.0/);
    const info = (state: string, assigned: number, served: number) =>
      `cluster_state:${state}\r\ncluster_slots_assigned:${assigned}\r\ncluster_slots_ok:${served}\r\n`;
    assert.equal(slotsVerdict(info('ok', 16384, 16384)).verdict, 'ok');
    assert.equal(slotsVerdict(info('ok', 16384, 16000)).verdict, 'fail');
    assert.equal(slotsVerdict(info('fail', 8001, 8001)).verdict, 'fail');
  });
});

function waitUntil(condition: () => Promise<boolean>): Promise<void> {
  return waitFor(() => condition().catch(() => false), {
    timeoutMs: 20_000,
    what: 'the replica joins',
  });
}
