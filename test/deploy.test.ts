// The deployment kit in deploy/ is checked by the tools that run it: promtool (rules, their unit
// tests, the scrape config, every dashboard query), systemd-analyze (the unit), haproxy -c; and
// every metric the dashboard and the alerts read exists in a real relay's /metrics (one process,
// or the primary's of a relay run with --workers).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ClusterMetrics } from '../src/cluster/cluster-metrics.js';
import type { MetricsSnapshot } from '../src/cluster/messages.js';
import { startTestRelay } from './helpers/relay.js';

const ROOT = resolve(import.meta.dirname, '..');
const DEPLOY = join(ROOT, 'deploy');
const RULES = join(DEPLOY, 'prometheus/entropy-relay.rules.yml');
const DASHBOARD = join(DEPLOY, 'grafana/entropy-relay.dashboard.json');
const UNIT = join(DEPLOY, 'systemd/entropy-relay.service');
const run = promisify(execFile);

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; never throws for a non-zero exit (the result says it). */
async function tool(command: string, args: string[], cwd = ROOT): Promise<RunResult> {
  try {
    const { stdout, stderr } = await run(command, args, { cwd, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; signal?: unknown; stdout?: string; stderr?: string };
    // Killed by a signal: no exit code; 128 + n as a shell reports it (the number does not matter).
    const code = typeof e.code === 'number' ? e.code : typeof e.signal === 'string' ? 128 : null;
    if (code === null) throw err; // not found: the test environment is incomplete
    return { code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const show = (r: RunResult): string => `${r.stdout}\n${r.stderr}`;

/** The PromQL expressions of the dashboard, as written (with Grafana variables). */
function dashboardExpressions(): string[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: unknown[] };
  const exprs: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (typeof node !== 'object' || node === null) return;
    const expr = (node as { expr?: unknown }).expr;
    if (typeof expr === 'string') exprs.push(expr);
    Object.values(node).forEach(visit);
  };
  visit(dashboard.panels);
  return exprs;
}

/** Grafana's variables replaced by what Prometheus would receive. */
const resolveVariables = (expr: string): string =>
  expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.*');

/** The expressions of the alert rules (the YAML holds one `expr:` per rule, some folded). */
function ruleExpressions(): string[] {
  const text = readFileSync(RULES, 'utf8');
  return [...text.matchAll(/^\s+expr:\s*(>\s*\n((?:\s{10,}.*\n)+)|.*)$/gm)].map((m) =>
    (m[2] ?? m[1]!).replace(/\s+/g, ' ').trim(),
  );
}

/** Writes `exprs` as recording rules and has promtool parse them. */
async function checkExpressions(exprs: string[]): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'entropy-promql-'));
  try {
    const rules = exprs
      .map((e, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(e)}`)
      .join('\n');
    const file = join(dir, 'queries.yml');
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}\n`);
    return await tool('promtool', ['check', 'rules', file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('Prometheus rules and configuration', () => {
  it('promtool check rules accepts the alert rules', async () => {
    const r = await tool('promtool', ['check', 'rules', RULES]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /SUCCESS: \d+ rules found/);
  });

  it('promtool test rules passes every case (each alert fires, healthy series stay silent)', async () => {
    const r = await tool(
      'promtool',
      ['test', 'rules', 'entropy-relay.rules.test.yml'],
      join(DEPLOY, 'prometheus'),
    );
    assert.equal(r.code, 0, show(r));
    const tested = new Set(
      [
        ...readFileSync(join(DEPLOY, 'prometheus/entropy-relay.rules.test.yml'), 'utf8').matchAll(
          /alertname: (\w+)/g,
        ),
      ].map((m) => m[1]),
    );
    const alerts = [...readFileSync(RULES, 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    assert.deepEqual(
      alerts.filter((a) => !tested.has(a)),
      [],
      'alerts without a promtool test case',
    );
  });

  it('promtool test rules fails when an expected alert is wrong (the check can fail)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'entropy-rules-'));
    try {
      const cases = readFileSync(join(DEPLOY, 'prometheus/entropy-relay.rules.test.yml'), 'utf8');
      writeFileSync(join(dir, 'entropy-relay.rules.yml'), readFileSync(RULES));
      writeFileSync(join(dir, 'cases.yml'), cases.replace('severity: critical', 'severity: info'));
      const r = await tool('promtool', ['test', 'rules', 'cases.yml'], dir);
      assert.notEqual(r.code, 0, show(r));
      assert.match(show(r), /FAILED/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('promtool check config accepts the scrape configuration', async () => {
    const r = await tool(
      'promtool',
      ['check', 'config', 'prometheus.yml'],
      join(DEPLOY, 'prometheus'),
    );
    assert.equal(r.code, 0, show(r));
  });
});

describe('the Grafana dashboard', () => {
  it('is JSON with panels that each query Prometheus', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      uid: string;
      panels: Array<{ type: string; title: string; targets?: unknown[] }>;
    };
    assert.equal(dashboard.uid, 'entropy-relay');
    const panels = dashboard.panels.filter((p) => p.type !== 'row');
    assert.ok(panels.length >= 15, `${panels.length} panels`);
    for (const p of panels) assert.ok((p.targets ?? []).length > 0, `${p.title} has no query`);
    const titles = panels.map((p) => p.title.toLowerCase()).join('\n');
    for (const topic of [
      'sessions',
      'relays/s by outcome',
      'queue',
      'pow difficulty',
      'rate-limit',
      'store up',
      'event-loop lag',
      'offline queue: queued/s, drained/s, storage use',
      'workers serving',
      'worker restarts',
    ])
      assert.ok(titles.includes(topic), `no panel about ${topic}`);
  });

  it('every query parses as PromQL', async () => {
    const exprs = dashboardExpressions().map(resolveVariables);
    assert.ok(exprs.length >= 20);
    const r = await checkExpressions(exprs);
    assert.equal(r.code, 0, show(r));
  });

  it('a malformed query is refused by the same check (it can fail)', async () => {
    const r = await checkExpressions(['sum by (instance (rate(entropy_messages_total[1m]))']);
    assert.notEqual(r.code, 0);
  });
});

describe('metrics the dashboard and the alerts read', () => {
  let exposed: Set<string>;
  before(async () => {
    const t = await startTestRelay({ tls: false });
    try {
      const text = (await t.metrics()).body.toString();
      // With --workers, the primary serves its own metrics merged with every worker's registry
      // (src/cluster/cluster-metrics.ts): here the one worker is this relay.
      const worker = (await t.relay.ctx.metrics.registry.getMetricsAsJSON()) as MetricsSnapshot;
      const primary = await new ClusterMetrics(async () => [worker]).registry.metrics();
      exposed = new Set(
        [text, primary].flatMap((body) =>
          [...body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]!),
        ),
      );
      assert.ok(exposed.has('entropy_workers') && exposed.has('entropy_messages_total'));
    } finally {
      await t.close();
    }
  });

  /** The metric names in `exprs` that the relay does not expose (histogram series allowed). */
  const unknown = (exprs: string[]): string[] => {
    const names = new Set(
      exprs.flatMap((e) => [...e.matchAll(/\bentropy_[a-z0-9_]+/g)].map((m) => m[0])),
    );
    return [...names].filter(
      (n) => !exposed.has(n) && !exposed.has(n.replace(/_(bucket|sum|count)$/, '')),
    );
  };

  it('every metric of the dashboard exists in a relay’s /metrics', () => {
    assert.deepEqual(unknown(dashboardExpressions()), []);
  });

  it('every metric of the alert rules exists in a relay’s /metrics', () => {
    const exprs = ruleExpressions();
    assert.ok(exprs.length >= 10, `${exprs.length} rule expressions`);
    assert.deepEqual(unknown(exprs), []);
  });

  it('a metric the relay does not have is reported (the check can fail)', () => {
    assert.deepEqual(unknown(['rate(entropy_no_such_metric_total[5m])']), [
      'entropy_no_such_metric_total',
    ]);
  });
});

describe('the systemd unit', () => {
  const unit = readFileSync(UNIT, 'utf8');

  it('systemd-analyze verify accepts it without a warning', async () => {
    const r = await tool('systemd-analyze', ['verify', UNIT]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stderr.trim(), '', r.stderr);
  });

  it('systemd-analyze verify reports a broken unit (the check can fail)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'entropy-unit-'));
    try {
      const broken = join(dir, 'entropy-relay.service');
      writeFileSync(broken, unit.replace('NoNewPrivileges=yes', 'NoNewPrivileges=maybe'));
      const r = await tool('systemd-analyze', ['verify', broken]);
      assert.ok(r.code !== 0 || r.stderr.trim() !== '', 'a bad value went unnoticed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is hardened: systemd-analyze security rates its exposure at most 2.0', async () => {
    const r = await tool('systemd-analyze', ['security', '--offline=true', '--threshold=20', UNIT]);
    assert.equal(r.code, 0, show(r));
    const level = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout);
    assert.ok(level && Number(level[1]) <= 2, show(r));
  });

  it('sets the directives operations rely on', () => {
    const set = (line: string) => new RegExp(`^${line}$`, 'm').test(unit);
    for (const line of [
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'PrivateTmp=yes',
      'DynamicUser=yes',
      'LimitNOFILE=\\d+',
      'KillSignal=SIGTERM',
      'ExecReload=/bin/kill -HUP \\$MAINPID',
      'RestartPreventExitStatus=2',
    ])
      assert.ok(set(line), `missing ${line}`);
    // V8's JIT writes and then executes code: this restriction would abort Node.
    assert.ok(!set('MemoryDenyWriteExecute=(yes|true|1)'));
  });

  it('MemoryDenyWriteExecute is incompatible with V8: Node aborts under it, --jitless does not', async (t) => {
    // The kernel's own W^X restriction (prctl PR_SET_MDWE, Linux >= 6.3) is what systemd's
    // MemoryDenyWriteExecute= enforces with seccomp: set it, then exec node.
    const dir = mkdtempSync(join(tmpdir(), 'entropy-mdwe-'));
    try {
      const helper = join(dir, 'mdwe.py');
      writeFileSync(
        helper,
        [
          'import ctypes, os, sys',
          'libc = ctypes.CDLL(None, use_errno=True)',
          'if libc.prctl(65, 1, 0, 0, 0) != 0: sys.exit(77)',
          'os.execv(sys.argv[1], sys.argv[1:])',
        ].join('\n'),
      );
      const script = 'let s = 0; for (let i = 0; i < 1e7; i++) s += i; console.log(s)';
      const python = await tool('python3', ['-c', 'print(1)']).catch(() => undefined);
      if (python?.code !== 0) return t.skip('python3 is not available');
      const jit = await tool('python3', [helper, process.execPath, '-e', script]);
      if (jit.code === 77) return t.skip('this kernel has no PR_SET_MDWE');
      assert.notEqual(jit.code, 0, 'Node ran with write-xor-execute memory and its JIT on');
      const jitless = await tool('python3', [helper, process.execPath, '--jitless', '-e', script]);
      assert.equal(jitless.code, 0, show(jitless));
      assert.equal(jitless.stdout.trim(), '49999995000000');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the Docker example', () => {
  it('haproxy -c accepts its HAProxy configuration', async () => {
    const r = await tool('haproxy', ['-c', '-f', join(DEPLOY, 'docker/haproxy.cfg')]);
    assert.equal(r.code, 0, show(r));
    assert.match(show(r), /Configuration file is valid/);
  });

  it('sends the PROXY protocol to relays that expect it from the proxy only', () => {
    const cfg = readFileSync(join(DEPLOY, 'docker/haproxy.cfg'), 'utf8');
    assert.match(cfg, /send-proxy-v2/);
    const compose = readFileSync(join(DEPLOY, 'docker/compose.yaml'), 'utf8');
    assert.match(compose, /ENTROPY_PROXY_PROTOCOL: ['"]1['"]/);
    const proxyIp = /ipv4_address: (\S+)/.exec(compose)?.[1];
    assert.ok(proxyIp !== undefined);
    assert.match(compose, new RegExp(`ENTROPY_TRUST_PROXY: ${proxyIp.replaceAll('.', '\\.')}\\b`));
  });

  it('says plainly that CI cannot build or run it', () => {
    const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
    assert.match(readme, /cannot be built or run on our CI machines/i);
  });
});
