// Processes of the benchmarks: the relay under test (`node dist/cli.js serve`), the baseline
// relay (bench/baseline-relay.ts, transpiled to plain JS), the load generator and the attacker
// (forked, commands over IPC), and what the orchestrator reads about them (/proc CPU time and
// RSS, the relay's /metrics on its metrics listener).
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { withTimeout } from '../../src/time.js';
import type { AttackCommand, Command, Response } from './protocol.js';

export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = join(BENCH_DIR, '..');
/**
 * The checkout whose dist/cli.js is the relay under test: this one, or BENCH_RELAY_ROOT (e.g.
 * another worktree, to compare two branches with the same bench).
 */
export const RELAY_ROOT = process.env.BENCH_RELAY_ROOT ?? ROOT;
export const RESULTS_DIR = join(BENCH_DIR, 'results');
const CLK_TCK = 100; // Linux USER_HZ

export interface Server {
  kind: 'relay' | 'baseline';
  pid: number;
  port: number;
  url: string;
  /** The relay's metrics listener, e.g. http://127.0.0.1:PORT (none for the baseline). */
  metricsUrl: string | undefined;
  tls: boolean;
  /** Last lines of the process's output (for failure reports). */
  log: string[];
  stop(): Promise<void>;
}

function remember(log: string[], line: string): void {
  log.push(line.slice(0, 500));
  if (log.length > 30) log.shift();
}

function stopper(child: ChildProcess, graceMs: number): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () =>
    (stopping ??= new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    }));
}

/**
 * Waits for a line on stdout that `parse` turns into a port; fails on exit or timeout. Lines
 * before it are kept in `log` (the relay names its metrics listener there).
 */
function awaitPort(
  child: ChildProcess,
  log: string[],
  parse: (line: string) => number | undefined,
  timeoutMs: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no listening line within ${timeoutMs} ms; output: ${log.join(' | ')}`));
    }, timeoutMs);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before listening; output: ${log.join(' | ')}`));
    };
    child.once('exit', onExit);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      remember(log, line);
      const port = parse(line);
      if (port !== undefined) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(port);
      }
    });
    createInterface({ input: child.stderr! }).on('line', (line) => remember(log, line));
  });
}

/**
 * The relay's environment. `raised`: rate limits and PoW load scaling kept out of the way of
 * throughput measurements. `shipped`: every limit at its default (the hostile-neighbour
 * benchmark); only the PoW base difficulty is lowered, so hundreds of identities can be set up.
 */
export function relayEnv(
  tls: boolean,
  extra: Record<string, string> = {},
  limits: 'raised' | 'shipped' = 'raised',
): Record<string, string> {
  const huge = '1000000000';
  const raised = {
    ENTROPY_POW_LOAD_THRESHOLDS: `${huge},${huge}1,${huge}2`,
    ENTROPY_MAX_CONNS_PER_IP: '1000000',
    ENTROPY_LIMIT_GLOBAL: huge,
    ENTROPY_POW_LIMIT: huge,
    ENTROPY_LIMIT_KEYS_UPLOAD: huge,
    ENTROPY_LIMIT_WS_FRAMES: huge,
    ENTROPY_LIMIT_WS_AUTH: huge,
    ENTROPY_LIMIT_WS_AUTH_IDENTITY: huge,
    ENTROPY_LIMIT_MSG_SEND: huge,
    ENTROPY_LIMIT_MSG_RECEIVE: huge,
  };
  return {
    ENTROPY_PORT: '0',
    ENTROPY_ADDR: '127.0.0.1',
    ENTROPY_METRICS_ADDR: '127.0.0.1:0',
    ENTROPY_TLS: tls ? 'on' : 'off',
    ENTROPY_POW_BASE: '2',
    ...(limits === 'raised' ? raised : {}),
    ENTROPY_SECRET_SALT: randomBytes(32).toString('hex'),
    // The "listening" line (with the port) is logged at info; nothing per request or frame is.
    ENTROPY_LOG_LEVEL: 'info',
    ...extra,
  };
}

export async function startRelay(
  tls: boolean,
  extraEnv: Record<string, string> = {},
  nodeArgs: string[] = [],
  limits: 'raised' | 'shipped' = 'raised',
  /** Extra `serve` flags (e.g. `--workers 2`). */
  cliArgs: string[] = [],
): Promise<Server> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...relayEnv(tls, extraEnv, limits) };
  const portOf = (entry: { msg?: string; port?: number }) =>
    entry.msg === 'Entropy relay listening' ? entry.port : undefined;
  const args = [...nodeArgs, join(RELAY_ROOT, 'dist/cli.js'), 'serve', ...cliArgs];
  const server = await spawnServer('relay', args, env, tls, portOf, 60_000, 10_000);
  // Logged just before the listening line.
  for (const line of server.log) {
    const m = /"Metrics at (http:\/\/[^"]+)\/metrics"/.exec(line);
    if (m) server.metricsUrl = m[1];
  }
  return server;
}

/** Starts a server process, waits for the JSON log line naming its port, returns its handle. */
async function spawnServer(
  kind: Server['kind'],
  args: string[],
  env: NodeJS.ProcessEnv,
  tls: boolean,
  portOf: (entry: { msg?: string; port?: number }) => number | undefined,
  startTimeoutMs: number,
  stopTimeoutMs: number,
): Promise<Server> {
  delete env.NODE_OPTIONS; // no tsx loader in the measured process
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const port = await awaitPort(
    child,
    log,
    (line) => {
      try {
        return portOf(JSON.parse(line) as { msg?: string; port?: number });
      } catch {
        return undefined;
      }
    },
    startTimeoutMs,
  );
  return {
    kind,
    pid: child.pid!,
    port,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    metricsUrl: undefined,
    tls,
    log,
    stop: stopper(child, stopTimeoutMs),
  };
}

let baselineJs: string | undefined;
let baselineTls: { cert: string; key: string } | undefined;

/** bench/baseline-relay.ts as plain JS (under bench/results/, next to node_modules resolution). */
async function compiledBaseline(): Promise<string> {
  if (baselineJs) return baselineJs;
  const ts = (await import('typescript')).default;
  const source = readFileSync(join(BENCH_DIR, 'baseline-relay.ts'), 'utf8');
  const out = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  const dir = join(RESULTS_DIR, '.cache');
  mkdirSync(dir, { recursive: true });
  baselineJs = join(dir, 'baseline-relay.mjs');
  writeFileSync(baselineJs, out.outputText);
  return baselineJs;
}

/** A self-signed ECDSA P-256 certificate of the same kind the relay generates for itself. */
async function baselineCert(): Promise<{ cert: string; key: string }> {
  if (baselineTls) return baselineTls;
  const { generateSelfSigned } = await import('../../src/tls.js');
  const material = await generateSelfSigned();
  const dir = join(RESULTS_DIR, '.cache');
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, 'baseline-cert.pem');
  const key = join(dir, 'baseline-key.pem');
  writeFileSync(cert, material.cert);
  writeFileSync(key, material.key, { mode: 0o600 });
  baselineTls = { cert, key };
  return baselineTls;
}

/** Whether `serve` of the built relay (dist/) accepts `flag` (e.g. "--workers"). */
export function relaySupports(flag: string): boolean {
  const help = spawnSync(process.execPath, [join(RELAY_ROOT, 'dist/cli.js'), 'serve', '--help'], {
    encoding: 'utf8',
  });
  return new RegExp(`(^|\\s)${flag}[\\s,=<]`).test(help.stdout ?? '');
}

export interface BaselineOptions {
  /** Pad forwarded frames to a multiple of this many bytes (BASELINE_PAD). */
  pad?: number;
  /** Ordered delivery jitter, "MIN-MAX" ms (BASELINE_JITTER_MS). */
  jitterMs?: string;
  /** A padded delivery_status to the sender of every forwarded frame (BASELINE_STATUS). */
  status?: boolean;
  /** Pacing interval and idle window, ms (BASELINE_PACING_MS, BASELINE_PACING_IDLE_MS). */
  pacing?: { ms: number; idleMs: number };
}

export async function startBaseline(tls: boolean, opts: BaselineOptions = {}): Promise<Server> {
  const script = await compiledBaseline();
  const env: NodeJS.ProcessEnv = { ...process.env, BASELINE_ADDR: '127.0.0.1', BASELINE_PORT: '0' };
  if (opts.pad) env.BASELINE_PAD = String(opts.pad);
  if (opts.jitterMs) env.BASELINE_JITTER_MS = opts.jitterMs;
  if (opts.status) env.BASELINE_STATUS = '1';
  if (opts.pacing) {
    env.BASELINE_PACING_MS = String(opts.pacing.ms);
    env.BASELINE_PACING_IDLE_MS = String(opts.pacing.idleMs);
  }
  if (tls) {
    const files = await baselineCert();
    env.BASELINE_TLS_CERT = files.cert;
    env.BASELINE_TLS_KEY = files.key;
  }
  return spawnServer('baseline', [script], env, tls, (entry) => entry.port, 15_000, 5000);
}

export interface ProcSample {
  /** Wall clock, ms (performance.now of the orchestrator). */
  at: number;
  /** utime + stime of all threads, seconds. */
  cpuS: number;
  userS: number;
  sysS: number;
  rssKiB: number;
  hwmKiB: number;
  /** Time the main thread (the event loop) waited for a CPU while runnable, seconds. */
  runDelayS: number;
}

export function sampleProc(pid: number): ProcSample {
  const at = performance.now();
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const userS = Number(fields[11]) / CLK_TCK;
  const sysS = Number(fields[12]) / CLK_TCK;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  const schedstat = readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ');
  const runDelayS = Number(schedstat[1]) / 1e9;
  return {
    at,
    cpuS: userS + sysS,
    userS,
    sysS,
    rssKiB: kib('VmRSS'),
    hwmKiB: kib('VmHWM'),
    runDelayS,
  };
}

/** `pid` and its live descendants (from /proc/<pid>/task/<tid>/children). */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number) => {
    out.push(p);
    const read = (path: string, fn: (p: string) => string | string[]) => {
      try {
        return fn(path);
      } catch {
        return ''; // the process exited meanwhile
      }
    };
    const tids = read(`/proc/${p}/task`, (x) => readdirSync(x));
    for (const tid of tids) {
      const children = read(`/proc/${p}/task/${tid}/children`, (x) => readFileSync(x, 'utf8'));
      for (const c of String(children).split(' ').filter(Boolean)) visit(Number(c));
    }
  };
  visit(pid);
  return out;
}

/**
 * sampleProc summed over a process and its live descendants (a relay with workers): CPU time,
 * RSS and peak RSS added up, run delay the sum of every main thread's.
 */
export function sampleTree(pid: number): ProcSample & { pids: number } {
  const all: ProcSample[] = [];
  for (const p of processTree(pid)) {
    try {
      all.push(sampleProc(p));
    } catch {
      // exited between listing and reading
    }
  }
  const sum = (f: (x: ProcSample) => number) => all.reduce((t, x) => t + f(x), 0);
  return {
    at: performance.now(),
    cpuS: sum((x) => x.cpuS),
    userS: sum((x) => x.userS),
    sysS: sum((x) => x.sysS),
    rssKiB: sum((x) => x.rssKiB),
    hwmKiB: sum((x) => x.hwmKiB),
    runDelayS: sum((x) => x.runDelayS),
    pids: all.length,
  };
}

export interface SystemSample {
  at: number;
  /** CPU time of all processes on the machine (user+nice+system+irq+softirq), seconds. */
  busyS: number;
  /** Time the hypervisor ran something else while this VM wanted the CPU, seconds. */
  stealS: number;
}

export function sampleSystem(): SystemSample {
  const at = performance.now();
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number) as number[];
  return {
    at,
    busyS: (user! + nice! + system! + irq! + softirq!) / CLK_TCK,
    stealS: (steal ?? 0) / CLK_TCK,
  };
}

/**
 * CPU taken by processes other than `ours` during a window (in % of one core), and steal time:
 * how contended the machine was while a figure was measured.
 */
export function contention(
  sys: [SystemSample, SystemSample],
  ours: Array<[ProcSample, ProcSample]>,
): { othersPct: number; stealPct: number } {
  const [a, b] = sys;
  const seconds = (b.at - a.at) / 1000;
  const mine = ours.reduce((sum, [x, y]) => sum + (y.cpuS - x.cpuS), 0);
  return {
    othersPct: Math.max(0, ((b.busyS - a.busyS - mine) / seconds) * 100),
    stealPct: ((b.stealS - a.stealS) / seconds) * 100,
  };
}

/** Share of the time between two samples the process's event loop waited for a CPU, %. */
export function runDelayPercent(a: ProcSample, b: ProcSample): number {
  return ((b.runDelayS - a.runDelayS) / ((b.at - a.at) / 1000)) * 100;
}

/** CPU use between two samples, in % of one core. */
export function cpuPercent(a: ProcSample, b: ProcSample): number {
  return ((b.cpuS - a.cpuS) / ((b.at - a.at) / 1000)) * 100;
}

// --- The relay's /metrics ------------------------------------------------------------------

export type Histogram = Array<{ le: number; count: number }>;

export interface RelayMetrics {
  lateness: Histogram;
  heapUsedBytes: number;
  externalBytes: number;
  activeConnections: number;
  messages: Record<string, number>;
  /**
   * Event-loop delay since the previous scrape (prom-client resets its monitorEventLoopDelay
   * histogram at each scrape), ms.
   */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** Every sample of the scrape by series (`name` or `name{labels}`), e.g. for counters. */
  series: Map<string, number>;
}

export function fetchText(url: string, timeoutMs = 10_000): Promise<string> {
  const get = url.startsWith('https:') ? https.get : http.get;
  return new Promise((resolve, reject) => {
    const req = get(url, { rejectUnauthorized: false, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 200) resolve(body);
        else reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url} timed out`)));
  });
}

export async function scrapeRelay(server: Server): Promise<RelayMetrics> {
  if (!server.metricsUrl) throw new Error(`the ${server.kind} has no metrics listener`);
  const text = await fetchText(`${server.metricsUrl}/metrics`);
  const lateness: Histogram = [];
  const messages: Record<string, number> = {};
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)/.exec(line);
    if (m) series.set(m[1]!, Number(m[2]));
  }
  for (const [key, value] of series) {
    let m = /^entropy_frame_lateness_seconds_bucket\{le="([^"]+)"\}$/.exec(key);
    if (m) lateness.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: value });
    m = /^entropy_messages_total\{outcome="([^"]+)"\}$/.exec(key);
    if (m) messages[m[1]!] = value;
  }
  const get = (key: string) => series.get(key) ?? NaN;
  return {
    lateness,
    heapUsedBytes: get('entropy_nodejs_heap_size_used_bytes'),
    externalBytes: get('entropy_nodejs_external_memory_bytes'),
    activeConnections: get('entropy_active_connections'),
    messages,
    loopDelayP99Ms: get('entropy_nodejs_eventloop_lag_p99_seconds') * 1000,
    loopDelayMaxMs: get('entropy_nodejs_eventloop_lag_max_seconds') * 1000,
    series,
  };
}

/** Sum of the series named `name` (all label sets) in `b` minus the same in `a`. */
export function counterDelta(a: RelayMetrics, b: RelayMetrics, name: string): number {
  const sum = (m: RelayMetrics) => {
    let total = 0;
    for (const [key, value] of m.series) {
      if (key === name || key.startsWith(`${name}{`)) total += value;
    }
    return total;
  };
  return sum(b) - sum(a);
}

/** Per label value of `label`: how much each series of `name` grew from `a` to `b` (> 0 only). */
export function counterDeltaBy(
  a: RelayMetrics,
  b: RelayMetrics,
  name: string,
  label: string,
): Record<string, number> {
  const out: Record<string, number> = {};
  const pattern = new RegExp(`^${name}\\{.*\\b${label}="([^"]*)"`);
  for (const [key, value] of b.series) {
    const m = pattern.exec(key);
    if (!m) continue;
    const grew = value - (a.series.get(key) ?? 0);
    if (grew > 0) out[m[1]!] = (out[m[1]!] ?? 0) + grew;
  }
  return out;
}

/** Bucket counts observed between two scrapes (cumulative, as Prometheus keeps them). */
export function histogramDelta(a: Histogram, b: Histogram): Histogram {
  return b.map((bucket, i) => ({ le: bucket.le, count: bucket.count - (a[i]?.count ?? 0) }));
}

/**
 * Quantile of a cumulative histogram, linearly interpolated inside the bucket (as Prometheus'
 * histogram_quantile does). Infinity when it falls in the +Inf bucket.
 */
export function histogramQuantile(h: Histogram, q: number): number {
  const total = h[h.length - 1]?.count ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const { le, count } of h) {
    if (count >= rank) {
      if (le === Infinity) return Infinity;
      const inBucket = count - prevCount;
      return inBucket === 0 ? le : prevLe + ((le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = le;
    prevCount = count;
  }
  return Infinity;
}

// --- Forked helpers: the load generator and the attacker -------------------------------------

type Commands = { cmd: string; args: unknown };
type Args<C extends Commands, K extends C['cmd']> = Extract<C, { cmd: K }>['args'];

/** A bench script in its own process, driven by commands over the IPC channel. */
export class BenchChild<C extends Commands> {
  private nextId = 1;
  private readonly calls = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private exited: string | undefined;
  readonly ready: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly name: string,
  ) {
    let onReady!: () => void;
    this.ready = new Promise((resolve) => (onReady = resolve));
    child.on('message', (msg: Response) => {
      if (msg.id === 0) return onReady();
      const call = this.calls.get(msg.id);
      if (!call) return;
      this.calls.delete(msg.id);
      if (msg.ok) call.resolve(msg.result);
      else call.reject(new Error(`${name}: ${msg.error}`));
    });
    child.on('exit', (code, signal) => {
      this.exited = `${name} exited (${code ?? signal})`;
      for (const call of this.calls.values()) call.reject(new Error(this.exited));
      this.calls.clear();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Forks bench/<script> (under tsx, without the orchestrator's NODE_OPTIONS). */
  static async fork<C extends Commands>(
    script: string,
    name: string,
    nodeArgs: string[] = [],
  ): Promise<BenchChild<C>> {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_OPTIONS;
    const child = fork(join(BENCH_DIR, script), [], {
      execArgv: [...nodeArgs, '--import', 'tsx'],
      env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Structured clone: results may hold Infinity (a message never delivered).
      serialization: 'advanced',
    });
    const forked = new BenchChild<C>(child, name);
    await withTimeout(forked.ready, 20_000, () => {
      throw new Error(`${name} did not start in 20 s`);
    });
    return forked;
  }

  call<K extends C['cmd']>(cmd: K, args: Args<C, K>, timeoutMs: number): Promise<unknown> {
    return this.request(cmd, args, timeoutMs);
  }

  private request(cmd: string, args: unknown, timeoutMs: number): Promise<unknown> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.calls.delete(id);
        reject(new Error(`${this.name}: "${cmd}" timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.calls.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ id, cmd, args });
    });
  }

  /** Asks the child to close its sockets (every bench child has `close`), then ends it. */
  async stop(): Promise<void> {
    if (this.exited) return;
    await this.request('close', {}, 8000).catch(() => undefined);
    await new Promise<void>((resolve) => {
      if (this.exited) return resolve();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.child.disconnect();
    });
  }
}

export type LoadGenerator = BenchChild<Command>;
export const LoadGenerator = {
  start: (nodeArgs: string[] = []): Promise<LoadGenerator> =>
    BenchChild.fork<Command>('load-generator.ts', 'load generator', nodeArgs),
};

export type Attacker = BenchChild<AttackCommand>;
export const Attacker = {
  start: (): Promise<Attacker> => BenchChild.fork<AttackCommand>('attacker.ts', 'attacker'),
};

// --- Redis ---------------------------------------------------------------------------------------

export interface BenchRedis {
  pid: number;
  port: number;
  url: string;
  stop(): Promise<void>;
}

/**
 * A volatile redis-server (no RDB, no AOF) on a free port other than 6379, in a temporary
 * directory, for the relay's Redis store.
 */
export async function startRedis(): Promise<BenchRedis> {
  const { freePort } = await import('../../test/helpers/redis-server.js');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log: string[] = [];
  const port2 = await awaitPort(
    child,
    log,
    (line) => (/Ready to accept connections/.test(line) ? port : undefined),
    10_000,
  );
  const stop = stopper(child, 5000);
  return {
    pid: child.pid!,
    port: port2,
    url: `redis://127.0.0.1:${port2}`,
    stop: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
