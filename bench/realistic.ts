// `npm run bench` (bench/run.ts → this file): the relay under a realistic workload, next to a bare
// `ws` relay measured in the same run on the same workload.
//
// Open loop (`open`): 1,000+ sender→recipient pairs, each sending at a low rate (≤ --pair-rate
// msg/s, default 10) on a schedule fixed in advance (round robin over the pairs: every pair sends
// every pairs/rate seconds, phases evenly spread), independent of replies. Each message carries
// its SCHEDULED send time; latency = receipt − scheduled time, so a stalled generator or relay
// cannot hide its stall (no coordinated omission). The offered rate is stepped (--steps) until a
// step fails (delivered < 99 % or p99 ≥ 100 ms; a failure is confirmed by one repeat). The last
// passing step is the configuration's maximum sustained rate; two more points are measured at 50
// and 80 % of it. Per step: delivered %, p50/p99 (over every message scheduled in the window, a
// lost one counting as infinite), relay CPU (utime+stime of the relay and its child processes from
// /proc/<pid>/stat, user/sys), load-generator CPU (user/sys), redis-server CPU, CPU used by other
// processes on the machine, relay RSS, and the generator's own send lag.
//
// Closed loop (`closed`, the "second line" of each configuration): after the open-loop steps, on
// the same processes, --closed-pairs pairs with --closed-window messages in flight each
// (saturation, as bench/relay.ts used to measure it).
//
// Configurations: relay × format (binary frames with a 200-byte payload, JSON `relay` frames with
// a 200-character envelope) × transport (plain WS, TLS 1.3) × store (memory, Redis: a
// redis-server started here on a free port, never 6379) × workers (1, or `serve --workers N`
// when the built relay has that flag, else the row says it was skipped); baseline
// (bench/baseline-relay.ts) × format × transport × variant: bare, +padding to 1536, +padding +
// 10–50 ms ordered jitter (what the relay's normalisation does).
//
// Idle (`idle`): RSS per idle authenticated session at --idle-sessions (10k and 50k; plain and
// TLS; relay and bare baseline), as far as the open-file limit (raised here with prlimit when
// allowed) and --connect-budget-s let it get; what was reached is reported. Pacing (`pacing`): CPU
// of --pacing-sessions sessions while pacing is active (each session relayed one message, so the
// relay sends it a dummy every 500 ms), plain and TLS.
//
// Output: markdown tables on stdout, JSON in bench/results/realistic-<time>.json. Progress on
// stderr. A benchmark, not a test: nothing fails the run. `--help` lists the flags.
//
// Every relay identity of the traffic runs uploads a key bundle (PoW) before it authenticates (PoW
// + Ed25519 signature), as real clients do (a recipient on another worker needs one); the idle
// runs skip the upload so that RSS per session is the session's own.
//
// The relay runs with its rate limits and PoW load scaling out of the way (relayEnv 'raised' in
// bench/lib/procs.ts: ENTROPY_POW_LOAD_THRESHOLDS, ENTROPY_MAX_CONNS_PER_IP, ENTROPY_LIMIT_GLOBAL,
// ENTROPY_POW_LIMIT, ENTROPY_LIMIT_KEYS_UPLOAD, ENTROPY_LIMIT_WS_FRAMES, ENTROPY_LIMIT_WS_AUTH,
// ENTROPY_LIMIT_WS_AUTH_IDENTITY, ENTROPY_LIMIT_MSG_SEND, ENTROPY_LIMIT_MSG_RECEIVE, all 10⁹;
// ENTROPY_POW_BASE=2), plus ENTROPY_IDLE_TIMEOUT_S=3600 (idle sessions outlive a long connect
// phase) and, in the pacing run, ENTROPY_PACING_IDLE_MS widened to cover the CPU window.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type {
  Format,
  PokeResult,
  SetupResult,
  Snapshot,
  StopResult,
  WindowStats,
} from './lib/protocol.js';
import {
  LoadGenerator,
  RESULTS_DIR,
  contention,
  histogramDelta,
  histogramQuantile,
  relaySupports,
  runDelayPercent,
  scrapeRelay,
  sampleProc,
  sampleSystem,
  sampleTree,
  startBaseline,
  startRedis,
  startRelay,
  type BenchRedis,
  type ProcSample,
  type RelayMetrics,
  type Server,
} from './lib/procs.js';
import { fmt, machine } from './lib/report.js';

// --- Configuration --------------------------------------------------------------------------

const SCENARIOS = ['open', 'closed', 'idle', 'pacing'] as const;
const VARIANTS = ['bare', 'pad', 'pad-jitter', 'pad-jitter-status'] as const;
type Variant = (typeof VARIANTS)[number];
type Transport = 'plain' | 'tls';
type Store = 'memory' | 'redis';

const HELP = `Usage: npm run bench [-- flags]   (or: npm run bench:realistic -- flags)

  --quick                 1–2 minute smoke run (binary, plain, memory store, 1 worker, baselines
                          bare and pad-jitter, 250 pairs, steps 1000,2000,4000, 1 + 2 s windows,
                          500 idle and pacing sessions); any flag below still overrides
  --scenarios LIST        open,closed,idle,pacing (default: all)
  --formats LIST          binary,json
  --transports LIST       plain,tls
  --stores LIST           memory,redis (relay only)
  --workers LIST          1,2 (relay only; N > 1 runs \`serve --workers N\`, Redis store only, if
                          the build has the flag)
  --baselines LIST        bare,pad,pad-jitter,pad-jitter-status, or none
  --relay / --no-relay    measure the relay (default yes; --no-relay: baselines only)
  --steps LIST            offered rates, msg/s (default 1000,2000,4000,6000,8000,10000,12000,
                          15000,20000,25000,30000,40000)
  --pairs N               minimum sender→recipient pairs (default 1000)
  --pair-rate N           most msg/s one pair sends (default 10; more pairs above pairs×N)
  --payload N             payload bytes (binary) / envelope characters (JSON) (default 200)
  --warmup-s N            seconds of traffic before each measured window (default 2)
  --window-s N            measured window per step (default 5)
  --closed-pairs N        closed-loop pairs (default 100); --closed-window N in flight (32)
  --idle-sessions LIST    idle session counts (default 10000,50000)
  --pacing-sessions N     sessions of the pacing run (default 10000); --pacing-s N window (10)
  --connect-budget-s N    most seconds spent connecting the idle sessions of one run (600)
  --relay-node-args "…"   extra node flags for the relay (e.g. "--cpu-prof --cpu-prof-dir=…")
  --help

Env: BENCH_RELAY_ROOT=/path/to/checkout runs that checkout's dist/cli.js as the relay (build it
first), e.g. to compare two branches with this bench.`;

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    scenarios: { type: 'string' },
    formats: { type: 'string' },
    transports: { type: 'string' },
    stores: { type: 'string' },
    workers: { type: 'string' },
    baselines: { type: 'string' },
    relay: { type: 'boolean' },
    'no-relay': { type: 'boolean' },
    steps: { type: 'string' },
    pairs: { type: 'string' },
    'pair-rate': { type: 'string' },
    payload: { type: 'string' },
    'warmup-s': { type: 'string' },
    'window-s': { type: 'string' },
    'closed-pairs': { type: 'string' },
    'closed-window': { type: 'string' },
    'idle-sessions': { type: 'string' },
    'pacing-sessions': { type: 'string' },
    'pacing-s': { type: 'string' },
    'connect-budget-s': { type: 'string' },
    'relay-node-args': { type: 'string' },
    help: { type: 'boolean' },
  },
  strict: true,
});
if (flags.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

const quick = flags.quick === true;
function list<T extends string>(
  name: string,
  raw: string | undefined,
  allowed: readonly T[],
  def: T[],
): T[] {
  if (raw === undefined) return def;
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item as T)) {
      throw new Error(`--${name}: unknown "${item}" (one of ${allowed.join(', ')})`);
    }
  }
  return items as T[];
}
function numbers(name: string, raw: string | undefined, def: number[]): number[] {
  if (raw === undefined) return def;
  const out = raw.split(',').map((s) => Number(s.trim()));
  if (out.some((n) => !Number.isFinite(n) || n <= 0))
    throw new Error(`--${name}: positive numbers`);
  return out;
}
const num = (name: string, raw: string | undefined, def: number) => numbers(name, raw, [def])[0]!;

const config = {
  quick,
  scenarios: list('scenarios', flags.scenarios, SCENARIOS, [...SCENARIOS]),
  formats: list<Format>(
    'formats',
    flags.formats,
    ['binary', 'json'],
    quick ? ['binary'] : ['binary', 'json'],
  ),
  transports: list<Transport>(
    'transports',
    flags.transports,
    ['plain', 'tls'],
    quick ? ['plain'] : ['plain', 'tls'],
  ),
  stores: list<Store>(
    'stores',
    flags.stores,
    ['memory', 'redis'],
    quick ? ['memory'] : ['memory', 'redis'],
  ),
  workers: numbers('workers', flags.workers, quick ? [1] : [1, 2]),
  baselines:
    flags.baselines === 'none'
      ? []
      : list(
          'baselines',
          flags.baselines,
          VARIANTS,
          quick ? ['bare', 'pad-jitter'] : [...VARIANTS],
        ),
  relay: flags['no-relay'] !== true,
  steps: numbers(
    'steps',
    flags.steps,
    quick
      ? [1000, 2000, 4000]
      : [1000, 2000, 4000, 6000, 8000, 10_000, 12_000, 15_000, 20_000, 25_000, 30_000, 40_000],
  ).sort((a, b) => a - b),
  pairs: num('pairs', flags.pairs, quick ? 250 : 1000),
  pairRate: num('pair-rate', flags['pair-rate'], 10),
  payload: num('payload', flags.payload, 200),
  warmupS: num('warmup-s', flags['warmup-s'], quick ? 1 : 2),
  /** Unmeasured traffic on a fresh server before its first step. */
  settleS: quick ? 2 : 5,
  windowS: num('window-s', flags['window-s'], quick ? 2 : 5),
  closedPairs: num('closed-pairs', flags['closed-pairs'], 100),
  closedWindow: num('closed-window', flags['closed-window'], 32),
  idleSessions: numbers('idle-sessions', flags['idle-sessions'], quick ? [500] : [10_000, 50_000]),
  pacingSessions: num('pacing-sessions', flags['pacing-sessions'], quick ? 500 : 10_000),
  pacingS: num('pacing-s', flags['pacing-s'], quick ? 3 : 10),
  connectBudgetS: num('connect-budget-s', flags['connect-budget-s'], quick ? 60 : 300),
  relayNodeArgs: (flags['relay-node-args'] ?? '').split(/\s+/).filter(Boolean),
};

const PASS_LOSS_PCT = 1;
const PASS_P99_MS = 100;
const JITTER = '10-50';
const PAD = 1536;
/** The relay's pacing interval (ENTROPY_PACING_MS default), given to the baseline's pacing. */
const PACING_MS = 500;
/** A step is generator-bound when the generator used this much CPU or sent this late. */
const GEN_BOUND_CPU_PCT = 90;
const GEN_BOUND_LAG_MS = 20;
// Idle sockets are spread over several loopback addresses (ephemeral ports are per address).
const IDLE_LOCAL_ADDRESSES = ['2', '3', '4', '5', '6', '7', '8', '9'].map((d) => `127.0.0.${d}`);
// Traffic sessions come from 16 client addresses, session i from address i % 16: the two ends of
// a pair have different addresses, so with `--workers` (which hands a connection to a worker by
// client IP) about half the pairs cross workers, as different users would.
const TRAFFIC_LOCAL_ADDRESSES = Array.from({ length: 16 }, (_, i) => `127.0.1.${i + 1}`);
const GENERATOR_NODE_ARGS = ['--max-old-space-size=8192'];

const benchStart = performance.now();
const elapsedS = () => (performance.now() - benchStart) / 1000;
const log = (text: string) =>
  process.stderr.write(`[realistic ${elapsedS().toFixed(0).padStart(4)}s] ${text}\n`);

// --- Open files -------------------------------------------------------------------------------

/** Raises RLIMIT_NOFILE of this process (children inherit it) as far as allowed. */
function raiseOpenFiles(want: number): { soft: number; hard: number; raisedTo?: number } {
  const read = () => {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [soft, hard] = (line ?? '').split(/\s+/).slice(3, 5).map(Number);
    return { soft: soft ?? 1024, hard: hard ?? 1024 };
  };
  const now = read();
  if (now.soft >= want) return now;
  let cap = want;
  try {
    cap = Math.min(want, Number(readFileSync('/proc/sys/fs/nr_open', 'utf8')));
  } catch {
    // keep want
  }
  const r = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${cap}:${cap}`]);
  const after = read();
  return r.status === 0 ? { ...after, raisedTo: after.soft } : after;
}

// --- Results -----------------------------------------------------------------------------------

interface CpuSplit {
  pct: number;
  userPct: number;
  sysPct: number;
}

interface Step {
  /** 'step' (the search), or a point at 50 / 80 % of the maximum sustained rate. */
  kind: 'step' | 'half' | 'eighty';
  rate: number;
  pairs: number;
  perPairRate: number;
  attempt: number;
  scheduled: number;
  delivered: number;
  deliveredPct: number;
  /** Over every message scheduled in the window (a lost one counts as infinite), ms. */
  p50: number;
  p99: number;
  /** Delivered messages only, ms. */
  p999Delivered?: number;
  maxDelivered?: number;
  relayCpu: CpuSplit;
  /** Relay (+ redis-server) CPU time per message delivered in the window, µs. */
  cpuUsPerMsg?: number;
  redisCpuPct?: number;
  generatorCpu: CpuSplit;
  othersCpuPct: number;
  stealPct: number;
  /**
   * Share of the window the relay's (summed over its processes) and the generator's main threads
   * were runnable but waiting for a CPU (/proc/<pid>/schedstat): contention from other jobs.
   */
  relayRunDelayPct: number;
  generatorRunDelayPct: number;
  relayRssMiB: number;
  relayProcesses: number;
  sendLag?: { p50: number; p99: number; max: number };
  notWritten: number;
  rejected: number;
  errors: number;
  unexpectedCloses: number;
  dummiesPerS: number;
  /**
   * The relay's own entropy_frame_lateness_seconds over the window (frame written − its
   * scheduled jitter time: what the relay adds beyond the jitter), ms, interpolated in buckets.
   */
  lateness?: { p50: number; p99: number };
  /** The relay's event-loop delay, max over the window (its metrics), ms. */
  loopDelayMaxMs?: number;
  pass: boolean;
  generatorBound: boolean;
  errorSamples: string[];
}

interface Closed {
  pairs: number;
  window: number;
  deliveredPerS: number;
  relayCpu: CpuSplit;
  cpuUsPerMsg?: number;
  generatorCpu: CpuSplit;
  othersCpuPct: number;
  p50?: number;
  p99?: number;
}

interface ConfigResult {
  name: string;
  kind: 'relay' | 'baseline';
  format: Format;
  transport: Transport;
  store?: Store;
  workers?: number;
  variant?: Variant;
  ok: boolean;
  skipped?: string;
  error?: string;
  connect?: { sessions: number; seconds: number };
  steps: Step[];
  maxSustained?: number;
  /** The search ended without a failure the generator did not cause: the maximum is ≥. */
  maxIsLowerBound?: boolean;
  firstFail?: number;
  closed?: Closed;
  serverLog?: string[];
}

interface IdlePoint {
  requested: number;
  reached: number;
  connectS: number;
  firstError?: string;
  rssMiB: number;
  rssPerSessionKiB: number;
  connectRelayCpuMsPerSession: number;
  connectGeneratorCpuMsPerSession: number;
}

interface Pacing {
  sessions: number;
  poked: number;
  windowS: number;
  relayCpu: CpuSplit;
  generatorCpu: CpuSplit;
  othersCpuPct: number;
  dummiesPerS: number;
  cpuUsPerDummy?: number;
}

interface IdleResult {
  kind: 'relay' | 'baseline';
  transport: Transport;
  ok: boolean;
  error?: string;
  rssBeforeMiB?: number;
  points: IdlePoint[];
  pacing?: Pacing;
  stoppedBecause?: string;
}

const results: ConfigResult[] = [];
/** RLIMIT_NOFILE of this process and its children, and the idle sessions it leaves room for. */
let openFiles = 0;
let sessionCap = Infinity;
const idleResults: IdleResult[] = [];

function cpuSplit(a: ProcSample, b: ProcSample): CpuSplit {
  const s = (b.at - a.at) / 1000;
  return {
    pct: ((b.cpuS - a.cpuS) / s) * 100,
    userPct: ((b.userS - a.userS) / s) * 100,
    sysPct: ((b.sysS - a.sysS) / s) * 100,
  };
}

// --- Processes of one configuration -------------------------------------------------------------

interface Rig {
  server: Server;
  redis?: BenchRedis;
  lg: LoadGenerator;
  sessions: number;
}

/**
 * `pacingIdleMs`: the idle and pacing runs widen the relay's pacing idle window to cover the
 * measured window, and give the baseline the same pacing (padded dummies every PACING_MS).
 */
async function startRig(cfg: ConfigResult, pacingIdleMs?: number): Promise<Rig> {
  const tls = cfg.transport === 'tls';
  let redis: BenchRedis | undefined;
  let server: Server | undefined;
  try {
    if (cfg.kind === 'relay') {
      if (cfg.store === 'redis') redis = await startRedis();
      server = await startRelay(
        tls,
        {
          ENTROPY_IDLE_TIMEOUT_S: '3600',
          ...(redis ? { ENTROPY_REDIS_URL: redis.url } : {}),
          ...(pacingIdleMs ? { ENTROPY_PACING_IDLE_MS: String(pacingIdleMs) } : {}),
        },
        config.relayNodeArgs,
        'raised',
        cfg.workers && cfg.workers > 1 ? ['--workers', String(cfg.workers)] : [],
      );
    } else {
      const v = cfg.variant ?? 'bare';
      server = await startBaseline(tls, {
        pad: v === 'bare' ? undefined : PAD,
        jitterMs: v.startsWith('pad-jitter') ? JITTER : undefined,
        status: v === 'pad-jitter-status',
        pacing: pacingIdleMs ? { ms: PACING_MS, idleMs: pacingIdleMs } : undefined,
      });
    }
    const lg = await LoadGenerator.start(GENERATOR_NODE_ARGS);
    return { server, redis, lg, sessions: 0 };
  } catch (err) {
    await server?.stop();
    await redis?.stop();
    throw err;
  }
}

async function stopRig(rig: Rig): Promise<void> {
  await rig.lg.stop();
  await rig.server.stop();
  await rig.redis?.stop();
}

/** Opens sessions until `sessions` are connected (in pairs: 2i sender, 2i+1 recipient). */
async function ensureSessions(
  rig: Rig,
  sessions: number,
  localAddresses: string[] = TRAFFIC_LOCAL_ADDRESSES,
) {
  if (rig.sessions >= sessions) return;
  const add = sessions - rig.sessions;
  const t0 = performance.now();
  const setup = (await rig.lg.call(
    'setup',
    {
      target: { kind: rig.server.kind, url: rig.server.url, tls: rig.server.tls },
      sessions: add,
      concurrency: 64,
      localAddresses,
      timeoutMs: 120_000,
      append: true,
      bundles: rig.server.kind === 'relay',
    },
    180_000,
  )) as SetupResult;
  rig.sessions = setup.total ?? rig.sessions + setup.connected;
  if (setup.connected < add) {
    throw new Error(
      `${add - setup.connected}/${add} sessions did not connect: ` +
        (setup.firstError ?? 'connect time out'),
    );
  }
  log(
    `    ${rig.sessions} sessions connected (+${add} in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
}

const pairsFor = (rate: number) => Math.max(config.pairs, Math.ceil(rate / config.pairRate));

// --- One open-loop step -------------------------------------------------------------------------

/** The relay's /metrics (undefined for the baseline, or when it cannot be read). */
async function metrics(server: Server): Promise<RelayMetrics | undefined> {
  if (!server.metricsUrl) return undefined;
  return scrapeRelay(server).catch(() => undefined);
}

function latenessOf(a: RelayMetrics | undefined, b: RelayMetrics | undefined): Step['lateness'] {
  if (!a || !b) return undefined;
  const h = histogramDelta(a.lateness, b.lateness);
  if ((h[h.length - 1]?.count ?? 0) === 0) return undefined;
  return { p50: histogramQuantile(h, 0.5) * 1000, p99: histogramQuantile(h, 0.99) * 1000 };
}

async function measureStep(
  cfg: ConfigResult,
  rig: Rig,
  rate: number,
  kind: Step['kind'],
  attempt: number,
): Promise<Step> {
  const pairs = pairsFor(rate);
  await ensureSessions(rig, 2 * pairs);
  const { lg, server, redis } = rig;
  await lg.call(
    'start',
    { format: cfg.format, payloadBytes: config.payload, mode: 'open', rate, pairs },
    10_000,
  );
  await sleep(config.warmupS * 1000);
  const m0 = await metrics(server);
  const y0 = sampleSystem();
  const r0 = sampleTree(server.pid);
  const g0 = sampleProc(lg.pid);
  const d0 = redis ? sampleProc(redis.pid) : undefined;
  const s0 = (await lg.call('mark', { record: true }, 10_000)) as Snapshot;
  await sleep(config.windowS * 1000);
  const s1 = (await lg.call('mark', { record: false }, 10_000)) as Snapshot;
  const d1 = redis ? sampleProc(redis.pid) : undefined;
  const g1 = sampleProc(lg.pid);
  const r1 = sampleTree(server.pid);
  const y1 = sampleSystem();
  const m1 = await metrics(server);
  await lg.call('stop', { drainMs: 3000 }, 15_000);
  const w = (await lg.call('window', { waitMs: 0 }, 10_000)) as WindowStats;
  const ours: Array<[ProcSample, ProcSample]> = [
    [r0, r1],
    [g0, g1],
  ];
  if (d0 && d1) ours.push([d0, d1]);
  const busy = contention([y0, y1], ours);
  const deliveredInWall = s1.delivered - s0.delivered;
  const serverCpuS = r1.cpuS - r0.cpuS + (d0 && d1 ? d1.cpuS - d0.cpuS : 0);
  const generatorCpu = cpuSplit(g0, g1);
  const deliveredPct = w.sent ? (w.delivered / w.sent) * 100 : 0;
  const p99 = w.ofSent.p99;
  const step: Step = {
    kind,
    rate,
    pairs,
    perPairRate: rate / pairs,
    attempt,
    scheduled: w.sent,
    delivered: w.delivered,
    deliveredPct,
    p50: w.ofSent.p50,
    p99,
    p999Delivered: w.latency?.p999,
    maxDelivered: w.latency?.max,
    relayCpu: cpuSplit(r0, r1),
    cpuUsPerMsg: deliveredInWall > 0 ? (serverCpuS * 1e6) / deliveredInWall : undefined,
    redisCpuPct: d0 && d1 ? cpuSplit(d0, d1).pct : undefined,
    generatorCpu,
    othersCpuPct: busy.othersPct,
    stealPct: busy.stealPct,
    relayRunDelayPct: runDelayPercent(r0, r1),
    generatorRunDelayPct: runDelayPercent(g0, g1),
    relayRssMiB: r1.rssKiB / 1024,
    relayProcesses: r1.pids,
    sendLag: w.sendLag,
    notWritten: w.skipped,
    rejected: w.rejected,
    errors: w.errors,
    unexpectedCloses: w.unexpectedCloses,
    dummiesPerS: (s1.dummies - s0.dummies) / ((s1.at - s0.at) / 1000),
    lateness: latenessOf(m0, m1),
    loopDelayMaxMs: m1?.loopDelayMaxMs,
    pass: w.sent > 0 && deliveredPct >= 100 - PASS_LOSS_PCT && p99 < PASS_P99_MS,
    generatorBound:
      generatorCpu.pct > GEN_BOUND_CPU_PCT || (w.sendLag?.p99 ?? 0) > GEN_BOUND_LAG_MS,
    errorSamples: w.errorSamples,
  };
  cfg.steps.push(step);
  log(
    `    ${kind === 'step' ? '' : `${kind} `}${rate}/s (${pairs} pairs × ${fmt(step.perPairRate, 1)}/s)` +
      `${attempt > 1 ? ' repeat' : ''}: delivered ${fmt(deliveredPct, 2)} %, p50/p99 ${fmt(step.p50, 1)}/${fmt(p99, 1)} ms, ` +
      `relay CPU ${fmt(step.relayCpu.pct, 0)} % (usr ${fmt(step.relayCpu.userPct, 0)}/sys ${fmt(step.relayCpu.sysPct, 0)})` +
      (step.redisCpuPct !== undefined ? ` + redis ${fmt(step.redisCpuPct, 0)} %` : '') +
      `, gen ${fmt(generatorCpu.pct, 0)} % (lag p99 ${fmt(w.sendLag?.p99, 0)} ms), others ${fmt(busy.othersPct, 0)} %, ` +
      `waited for a CPU: relay ${fmt(step.relayRunDelayPct, 0)} % / gen ${fmt(step.generatorRunDelayPct, 0)} %, ` +
      `${fmt(step.cpuUsPerMsg, 1)} µs/msg → ${step.pass ? 'pass' : 'FAIL'}${step.generatorBound ? ' (generator-bound)' : ''}`,
  );
  await sleep(500);
  return step;
}

async function closedLoop(cfg: ConfigResult, rig: Rig): Promise<void> {
  const { lg, server, redis } = rig;
  await ensureSessions(rig, 2 * config.closedPairs);
  await lg.call(
    'start',
    {
      format: cfg.format,
      payloadBytes: config.payload,
      mode: 'closed',
      window: config.closedWindow,
      pairs: config.closedPairs,
    },
    10_000,
  );
  await sleep(config.warmupS * 1000);
  const y0 = sampleSystem();
  const r0 = sampleTree(server.pid);
  const g0 = sampleProc(lg.pid);
  const d0 = redis ? sampleProc(redis.pid) : undefined;
  const s0 = (await lg.call('mark', { record: true }, 10_000)) as Snapshot;
  await sleep(config.windowS * 1000);
  const s1 = (await lg.call('mark', { record: false }, 10_000)) as Snapshot;
  const d1 = redis ? sampleProc(redis.pid) : undefined;
  const g1 = sampleProc(lg.pid);
  const r1 = sampleTree(server.pid);
  const y1 = sampleSystem();
  const stopped = (await lg.call('stop', { drainMs: 3000 }, 15_000)) as StopResult;
  const ours: Array<[ProcSample, ProcSample]> = [
    [r0, r1],
    [g0, g1],
  ];
  if (d0 && d1) ours.push([d0, d1]);
  const delivered = s1.delivered - s0.delivered;
  const serverCpuS = r1.cpuS - r0.cpuS + (d0 && d1 ? d1.cpuS - d0.cpuS : 0);
  cfg.closed = {
    pairs: config.closedPairs,
    window: config.closedWindow,
    deliveredPerS: delivered / ((s1.at - s0.at) / 1000),
    relayCpu: cpuSplit(r0, r1),
    cpuUsPerMsg: delivered > 0 ? (serverCpuS * 1e6) / delivered : undefined,
    generatorCpu: cpuSplit(g0, g1),
    othersCpuPct: contention([y0, y1], ours).othersPct,
    p50: stopped.latency?.p50,
    p99: stopped.latency?.p99,
  };
  log(
    `    closed loop: ${fmt(cfg.closed.deliveredPerS, 0)} msg/s, relay CPU ${fmt(cfg.closed.relayCpu.pct, 0)} %, ` +
      `${fmt(cfg.closed.cpuUsPerMsg, 1)} µs/msg, gen ${fmt(cfg.closed.generatorCpu.pct, 0)} %`,
  );
}

/**
 * Where the search of a configuration starts (index in config.steps): the first step for the
 * relay; for a baseline, the relay's maximum (same format and transport), so that the baseline is
 * measured at that very rate (CPU/msg ratio at the same load) without climbing every step below.
 */
function startStep(cfg: ConfigResult): number {
  if (cfg.kind === 'relay') return 0;
  const relays = results.filter(
    (r) =>
      r.kind === 'relay' &&
      r.format === cfg.format &&
      r.transport === cfg.transport &&
      r.maxSustained !== undefined,
  );
  const ref = relays.find((r) => r.store === 'memory' && r.workers === 1) ?? relays[0];
  if (!ref?.maxSustained) return 0;
  return Math.max(0, config.steps.indexOf(ref.maxSustained));
}

/**
 * Steps up from config.steps[from] until a step fails (confirmed by a repeat); if the first one
 * fails, steps down until one passes. Sets maxSustained, firstFail and maxIsLowerBound.
 */
async function search(cfg: ConfigResult, rig: Rig, from: number): Promise<void> {
  const steps = config.steps;
  const attempt = async (rate: number) => {
    const step = await measureStep(cfg, rig, rate, 'step', 1);
    return step.pass ? step : measureStep(cfg, rig, rate, 'step', 2);
  };
  let lastFailBound = false;
  // Warm-up of a fresh server (JIT, pools, the generator's own sockets): not measured.
  const settleRate = steps[from]!;
  await ensureSessions(rig, 2 * pairsFor(settleRate));
  await rig.lg.call(
    'start',
    {
      format: cfg.format,
      payloadBytes: config.payload,
      mode: 'open',
      rate: settleRate,
      pairs: pairsFor(settleRate),
    },
    10_000,
  );
  await sleep(config.settleS * 1000);
  await rig.lg.call('stop', { drainMs: 3000 }, 15_000);
  await sleep(500);
  const first = await attempt(steps[from]!);
  if (first.pass) {
    cfg.maxSustained = steps[from];
    for (let i = from + 1; i < steps.length; i++) {
      const step = await attempt(steps[i]!);
      if (!step.pass) {
        cfg.firstFail = steps[i];
        lastFailBound = step.generatorBound;
        break;
      }
      cfg.maxSustained = steps[i];
    }
  } else {
    cfg.firstFail = steps[from];
    lastFailBound = first.generatorBound;
    for (let i = from - 1; i >= 0; i--) {
      const step = await attempt(steps[i]!);
      if (step.pass) {
        cfg.maxSustained = steps[i];
        break;
      }
      cfg.firstFail = steps[i];
      lastFailBound = step.generatorBound;
    }
  }
  cfg.maxIsLowerBound = cfg.firstFail === undefined || lastFailBound;
}

/** The open-loop search, the 50/80 % points and the closed-loop line of one configuration. */
async function runConfig(cfg: ConfigResult): Promise<void> {
  results.push(cfg);
  log(`${cfg.name}`);
  let rig: Rig | undefined;
  try {
    rig = await startRig(cfg);
    const t0 = performance.now();
    await ensureSessions(rig, 2 * pairsFor(config.steps[0]!));
    cfg.connect = { sessions: rig.sessions, seconds: (performance.now() - t0) / 1000 };
    if (config.scenarios.includes('open')) {
      await search(cfg, rig, startStep(cfg));
      if (cfg.maxSustained) {
        for (const [kind, share] of [
          ['half', 0.5],
          ['eighty', 0.8],
        ] as const) {
          const rate = Math.max(100, Math.round((cfg.maxSustained * share) / 100) * 100);
          await measureStep(cfg, rig, rate, kind, 1);
        }
      }
    }
    if (config.scenarios.includes('closed')) await closedLoop(cfg, rig);
    cfg.ok = true;
  } catch (err) {
    cfg.error = (err as Error).message;
    cfg.serverLog = rig?.server.log;
    log(`  FAILED: ${cfg.error}`);
  } finally {
    if (rig) await stopRig(rig);
  }
}

// --- Idle sessions and pacing -------------------------------------------------------------------

async function runIdle(kind: 'relay' | 'baseline', transport: Transport): Promise<void> {
  const res: IdleResult = { kind, transport, ok: false, points: [] };
  idleResults.push(res);
  const wantPacing = config.scenarios.includes('pacing');
  const wantIdle = config.scenarios.includes('idle');
  const counts = [
    ...new Set([
      ...(wantIdle ? config.idleSessions : []),
      ...(wantPacing ? [config.pacingSessions] : []),
    ]),
  ].sort((a, b) => a - b);
  if (!counts.length) return;
  log(`idle ${kind} ${transport}: ${counts.join(', ')} sessions`);
  const cfg: ConfigResult = {
    name: `idle ${kind}`,
    kind,
    format: 'binary',
    transport,
    store: 'memory',
    // The baseline's dummies are padded like the relay's.
    variant: 'pad',
    ok: false,
    steps: [],
  };
  const pacingIdleMs = (config.pacingS + 5) * 1000;
  let rig: Rig | undefined;
  try {
    rig = await startRig(cfg, pacingIdleMs);
    const { lg, server } = rig;
    const target = { kind, url: server.url, tls: transport === 'tls' };
    // Warm-up: code paths compiled and pools allocated before the "before" sample.
    await lg.call(
      'setup',
      { target, sessions: 200, concurrency: 64, localAddresses: [], timeoutMs: 30_000 },
      60_000,
    );
    await lg.call('poke', { timeoutMs: 5000 }, 10_000);
    await lg.call('close', {}, 10_000);
    await sleep(1500);
    const before = sampleTree(server.pid);
    res.rssBeforeMiB = before.rssKiB / 1024;
    const deadline = performance.now() + config.connectBudgetS * 1000;
    let total = 0;
    for (const asked of counts) {
      const left = deadline - performance.now();
      if (left < 5000) {
        res.stoppedBecause = `connect budget (${config.connectBudgetS} s) used up`;
        break;
      }
      // Each session is one socket in the server and one in the generator.
      const n = Math.min(asked, sessionCap);
      if (n <= total) {
        res.stoppedBecause = `open-file limit (${openFiles} per process; prlimit could not raise it)`;
        break;
      }
      const c0 = sampleTree(server.pid);
      const g0 = sampleProc(lg.pid);
      const t0 = performance.now();
      const setup = (await lg.call(
        'setup',
        {
          target,
          sessions: n - total,
          concurrency: 128,
          localAddresses: IDLE_LOCAL_ADDRESSES,
          timeoutMs: left,
          append: total > 0,
        },
        left + 60_000,
      )) as SetupResult;
      const connectS = (performance.now() - t0) / 1000;
      const c1 = sampleTree(server.pid);
      const g1 = sampleProc(lg.pid);
      total = setup.total ?? total + setup.connected;
      await sleep(2000);
      const after = sampleTree(server.pid);
      const point: IdlePoint = {
        requested: asked,
        reached: total,
        connectS,
        firstError: setup.firstError,
        rssMiB: after.rssKiB / 1024,
        rssPerSessionKiB: (after.rssKiB - before.rssKiB) / total,
        connectRelayCpuMsPerSession: ((c1.cpuS - c0.cpuS) * 1000) / Math.max(1, setup.connected),
        connectGeneratorCpuMsPerSession:
          ((g1.cpuS - g0.cpuS) * 1000) / Math.max(1, setup.connected),
      };
      if (wantIdle) res.points.push(point);
      log(
        `  ${total}/${n} sessions in ${connectS.toFixed(1)} s: RSS ${fmt(point.rssMiB, 0)} MiB, ` +
          `${fmt(point.rssPerSessionKiB, 1)} KiB/session` +
          (setup.firstError ? ` (first error: ${setup.firstError})` : ''),
      );
      if (wantPacing && asked === config.pacingSessions) res.pacing = await pacing(rig, total);
      if (total < n) {
        res.stoppedBecause = setup.notAttempted
          ? `connect budget (${config.connectBudgetS} s) used up`
          : `connect failures: ${setup.firstError}`;
        break;
      }
      if (n < asked) {
        res.stoppedBecause = `open-file limit (${openFiles} per process; prlimit could not raise it)`;
        break;
      }
    }
    res.ok = true;
  } catch (err) {
    res.error = (err as Error).message;
    log(`  FAILED: ${res.error}`);
  } finally {
    if (rig) await stopRig(rig);
  }
}

/** Every session relays one message to itself (pacing starts), then CPU over the window. */
async function pacing(rig: Rig, sessions: number): Promise<Pacing> {
  const { lg, server } = rig;
  const poke = (await lg.call('poke', { timeoutMs: 30_000 }, 40_000)) as PokeResult;
  await sleep(1500);
  const y0 = sampleSystem();
  const r0 = sampleTree(server.pid);
  const g0 = sampleProc(lg.pid);
  const s0 = (await lg.call('mark', { record: false }, 10_000)) as Snapshot;
  await sleep(config.pacingS * 1000);
  const s1 = (await lg.call('mark', { record: false }, 10_000)) as Snapshot;
  const g1 = sampleProc(lg.pid);
  const r1 = sampleTree(server.pid);
  const y1 = sampleSystem();
  const windowS = (s1.at - s0.at) / 1000;
  const dummies = s1.dummies - s0.dummies;
  const p: Pacing = {
    sessions,
    poked: poke.delivered,
    windowS,
    relayCpu: cpuSplit(r0, r1),
    generatorCpu: cpuSplit(g0, g1),
    othersCpuPct: contention(
      [y0, y1],
      [
        [r0, r1],
        [g0, g1],
      ],
    ).othersPct,
    dummiesPerS: dummies / windowS,
    cpuUsPerDummy: dummies > 0 ? ((r1.cpuS - r0.cpuS) * 1e6) / dummies : undefined,
  };
  log(
    `  pacing, ${sessions} sessions: relay CPU ${fmt(p.relayCpu.pct, 1)} % (usr ${fmt(p.relayCpu.userPct, 1)}/sys ${fmt(p.relayCpu.sysPct, 1)}), ` +
      `${fmt(p.dummiesPerS, 0)} dummies/s, gen ${fmt(p.generatorCpu.pct, 0)} %`,
  );
  return p;
}

// --- Report ------------------------------------------------------------------------------------

function md(headers: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

const ms = (v: number | undefined) =>
  v === undefined ? '—' : v === Infinity ? '∞' : fmt(v, v < 10 ? 1 : 0);
const lat = (s: Step | undefined) => (s ? `${ms(s.p50)} / ${ms(s.p99)}` : '—');
const split = (c: CpuSplit | undefined) =>
  c ? `${fmt(c.pct, 0)} (${fmt(c.userPct, 0)}/${fmt(c.sysPct, 0)})` : '—';

function passingAt(cfg: ConfigResult, rate: number | undefined): Step | undefined {
  if (rate === undefined) return undefined;
  return cfg.steps.find((s) => s.kind === 'step' && s.rate === rate && s.pass);
}

function point(cfg: ConfigResult, kind: 'half' | 'eighty'): Step | undefined {
  return cfg.steps.find((s) => s.kind === kind);
}

function baselinesFor(cfg: ConfigResult): ConfigResult[] {
  return results.filter(
    (b) => b.kind === 'baseline' && b.format === cfg.format && b.transport === cfg.transport,
  );
}

function maxText(cfg: ConfigResult): string {
  if (cfg.skipped) return `skipped: ${cfg.skipped}`;
  if (!cfg.ok && cfg.error) return `failed: ${cfg.error.slice(0, 120)}`;
  if (!config.scenarios.includes('open')) return '—';
  if (cfg.maxSustained === undefined) return `< ${fmt(config.steps[0], 0)}`;
  const at = passingAt(cfg, cfg.maxSustained);
  const why =
    cfg.firstFail === undefined
      ? ' (steps exhausted)'
      : cfg.maxIsLowerBound
        ? ' (generator-bound)'
        : '';
  return `${cfg.maxIsLowerBound ? '≥ ' : ''}${fmt(cfg.maxSustained, 0)}${why}` + (at ? '' : '');
}

function report(m: ReturnType<typeof machine>, limits: ReturnType<typeof raiseOpenFiles>): string {
  const out: string[] = [];
  out.push('## Entropy relay — realistic benchmark', '');
  out.push(
    `Open loop: ≥ ${config.pairs} sender→recipient pairs, each ≤ ${config.pairRate} msg/s on a fixed schedule; ` +
      `${config.payload}-byte payloads; ${config.warmupS} s warm-up + ${config.windowS} s window per step; ` +
      `max sustained = highest step with loss < ${PASS_LOSS_PCT} % and p99 < ${PASS_P99_MS} ms (latency = receipt − scheduled send time, ` +
      `lost messages count as infinite; the relay's and pad-jitter baseline's 10–50 ms jitter is included). ` +
      `CPU % = % of one core, "total (user/sys)"; CPU µs/msg = (relay [+ redis-server]) CPU / delivered messages, at the max sustained step.`,
    '',
  );
  const relayRows: string[][] = [];
  for (const cfg of results) {
    const at = passingAt(cfg, cfg.maxSustained);
    relayRows.push([
      cfg.name,
      maxText(cfg),
      fmt(at?.cpuUsPerMsg, 1),
      lat(point(cfg, 'half')) + (point(cfg, 'half') ? ` @${fmt(point(cfg, 'half')!.rate, 0)}` : ''),
      lat(point(cfg, 'eighty')) +
        (point(cfg, 'eighty') ? ` @${fmt(point(cfg, 'eighty')!.rate, 0)}` : ''),
      split(at?.relayCpu) +
        (at?.redisCpuPct !== undefined ? ` + redis ${fmt(at.redisCpuPct, 0)}` : ''),
      split(at?.generatorCpu),
      fmt(at?.othersCpuPct, 0),
      at ? `${fmt(at.relayRunDelayPct, 0)} / ${fmt(at.generatorRunDelayPct, 0)}` : '—',
      fmt(at?.relayRssMiB, 0),
    ]);
    if (cfg.closed) {
      const c = cfg.closed;
      relayRows.push([
        `  ↳ closed loop (${c.pairs} pairs × ${c.window} in flight)`,
        fmt(c.deliveredPerS, 0),
        fmt(c.cpuUsPerMsg, 1),
        `p50/p99 ${ms(c.p50)} / ${ms(c.p99)}`,
        '',
        split(c.relayCpu),
        split(c.generatorCpu),
        fmt(c.othersCpuPct, 0),
        '',
        '',
      ]);
    }
  }
  out.push('### Per configuration', '');
  out.push(
    md(
      [
        'configuration',
        'max sustained msg/s',
        'CPU µs/msg',
        'p50 / p99 ms @50 %',
        'p50 / p99 ms @80 %',
        'server CPU % @max',
        'generator CPU % @max',
        'others CPU %',
        'waited for CPU % relay / gen',
        'relay RSS MiB',
      ],
      relayRows,
    ),
    '',
  );

  // Ratios: relay / each baseline of the same format and transport.
  const ratioRows: string[][] = [];
  for (const cfg of results.filter((r) => r.kind === 'relay' && r.ok)) {
    for (const b of baselinesFor(cfg).filter((x) => x.ok)) {
      const thr =
        cfg.maxSustained && b.maxSustained
          ? `${fmt(cfg.maxSustained / b.maxSustained, 2)}×${b.maxIsLowerBound ? ' (baseline ≥)' : ''}`
          : '—';
      // CPU per message at the same offered rate: the relay's max sustained step.
      const r = passingAt(cfg, cfg.maxSustained);
      const bs = cfg.maxSustained
        ? b.steps.find((s) => s.kind === 'step' && s.rate === cfg.maxSustained)
        : undefined;
      const cpu =
        r?.cpuUsPerMsg && bs?.cpuUsPerMsg ? `${fmt(r.cpuUsPerMsg / bs.cpuUsPerMsg, 2)}×` : '—';
      const closedThr =
        cfg.closed && b.closed
          ? `${fmt(cfg.closed.deliveredPerS / b.closed.deliveredPerS, 2)}×`
          : '—';
      const closedCpu =
        cfg.closed?.cpuUsPerMsg && b.closed?.cpuUsPerMsg
          ? `${fmt(cfg.closed.cpuUsPerMsg / b.closed.cpuUsPerMsg, 2)}×`
          : '—';
      ratioRows.push([
        cfg.name,
        `baseline ${b.variant}`,
        thr,
        cpu + (r ? ` @${fmt(r.rate, 0)}` : ''),
        closedThr,
        closedCpu,
      ]);
    }
  }
  if (ratioRows.length) {
    out.push('### Relay / baseline (same format and transport)', '');
    out.push(
      md(
        [
          'relay configuration',
          'vs',
          'max sustained ratio',
          'CPU/msg ratio (same rate)',
          'closed-loop msg/s ratio',
          'closed-loop CPU/msg ratio',
        ],
        ratioRows,
      ),
      '',
    );
  }

  const idleRows: string[][] = [];
  for (const r of idleResults) {
    for (const p of r.points) {
      const base = idleResults.find((b) => b.kind === 'baseline' && b.transport === r.transport);
      const bp = base?.points.find((x) => x.requested === p.requested);
      idleRows.push([
        `${r.kind} ${r.transport}`,
        `${fmt(p.reached, 0)} / ${fmt(p.requested, 0)}`,
        fmt(p.rssPerSessionKiB, 1),
        r.kind === 'relay' && bp ? `${fmt(p.rssPerSessionKiB / bp.rssPerSessionKiB, 2)}×` : '',
        fmt(p.rssMiB, 0),
        `${fmt(p.connectS, 0)} s (${fmt(p.connectRelayCpuMsPerSession, 2)} + ${fmt(p.connectGeneratorCpuMsPerSession, 2)} ms CPU/session)`,
      ]);
    }
    if (!r.ok || r.stoppedBecause) {
      idleRows.push([
        `${r.kind} ${r.transport}`,
        r.error ? `failed: ${r.error}` : `stopped: ${r.stoppedBecause}`,
        '',
        '',
        '',
        '',
      ]);
    }
  }
  if (idleRows.length) {
    out.push('### Idle sessions', '');
    out.push(
      md(
        [
          'server',
          'sessions reached / asked',
          'RSS KiB/session',
          'relay / baseline',
          'RSS MiB',
          'connect (server + generator CPU)',
        ],
        idleRows,
      ),
      '',
    );
  }
  const pacingRows = idleResults
    .filter((r) => r.pacing)
    .map((r) => {
      const p = r.pacing!;
      const base = idleResults.find((b) => b.kind === 'baseline' && b.transport === r.transport);
      const bp = base?.pacing;
      return [
        `${r.kind} ${r.transport}`,
        fmt(p.sessions, 0),
        split(p.relayCpu),
        r.kind === 'relay' && bp ? `${fmt(p.relayCpu.pct / bp.relayCpu.pct, 2)}×` : '',
        fmt(p.dummiesPerS, 0),
        fmt(p.cpuUsPerDummy, 1),
        split(p.generatorCpu),
        fmt(p.othersCpuPct, 0),
      ];
    });
  if (pacingRows.length) {
    out.push('### Sessions with pacing active (a dummy every 500 ms each)', '');
    out.push(
      md(
        [
          'server',
          'sessions',
          'server CPU % (user/sys)',
          'relay / baseline',
          'dummies/s received',
          'CPU µs/dummy',
          'generator CPU %',
          'others CPU %',
        ],
        pacingRows,
      ),
      '',
    );
  }

  if (results.some((r) => r.steps.length)) out.push('### Steps', '');
  const stepRows: string[][] = [];
  for (const cfg of results) {
    for (const s of cfg.steps) {
      const notes: string[] = [];
      if (s.generatorBound) notes.push('generator-bound');
      if (s.notWritten) notes.push(`${s.notWritten} not written`);
      if (s.rejected) notes.push(`${s.rejected} rejected`);
      if (s.errors) notes.push(`${s.errors} errors`);
      if (s.unexpectedCloses) notes.push(`${s.unexpectedCloses} closes`);
      if (s.errorSamples[0]) notes.push(s.errorSamples[0].slice(0, 80));
      stepRows.push([
        cfg.name,
        `${fmt(s.rate, 0)}${s.kind === 'step' ? '' : s.kind === 'half' ? ' (50 %)' : ' (80 %)'}${s.attempt > 1 ? ' (repeat)' : ''}`,
        `${fmt(s.pairs, 0)} × ${fmt(s.perPairRate, 1)}`,
        fmt(s.deliveredPct, 2),
        lat(s),
        split(s.relayCpu) + (s.redisCpuPct !== undefined ? ` + ${fmt(s.redisCpuPct, 0)}` : ''),
        fmt(s.cpuUsPerMsg, 1),
        split(s.generatorCpu),
        s.sendLag ? `${fmt(s.sendLag.p99, 0)}` : '—',
        s.lateness ? `${ms(s.lateness.p50)} / ${ms(s.lateness.p99)}` : '—',
        fmt(s.othersCpuPct, 0),
        `${fmt(s.relayRunDelayPct, 0)} / ${fmt(s.generatorRunDelayPct, 0)}`,
        fmt(s.relayRssMiB, 0),
        s.pass ? 'yes' : 'no',
        notes.join('; '),
      ]);
    }
  }
  if (stepRows.length)
    out.push(
      md(
        [
          'configuration',
          'offered msg/s',
          'pairs × msg/s',
          'delivered %',
          'p50 / p99 ms',
          'server CPU % (usr/sys)',
          'µs/msg',
          'generator CPU %',
          'send lag p99 ms',
          'relay lateness p50 / p99 ms',
          'others CPU %',
          'waited for CPU % relay / gen',
          'RSS MiB',
          'pass',
          'notes',
        ],
        stepRows,
      ),
      '',
    );
  out.push(
    `Machine: ${m.cores} cores (${m.cpuModel}), Node ${m.node}, ${m.totalMemoryGiB} GiB RAM, ${m.platform}; ` +
      `load average at start ${m.loadAverageAtStart.join(' ')}; open files ${limits.soft}${limits.raisedTo ? ' (raised with prlimit)' : ''}. ` +
      `"others CPU %" = CPU used by processes other than the server, redis-server and generator during the window (in % of one core; ${m.cores} cores = ${m.cores * 100} %); ` +
      `"waited for CPU %" = share of the window the relay's and the generator's main threads were runnable but not running (/proc/<pid>/schedstat): above a few %, the figures measure the machine's contention more than the relay.`,
    '',
  );
  return out.join('\n');
}

// --- Main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const startedAt = new Date();
  const maxIdle = Math.max(0, ...config.idleSessions, config.pacingSessions);
  const limits = raiseOpenFiles(Math.max(65_536, 2 * maxIdle + 20_000));
  openFiles = limits.soft;
  sessionCap = limits.soft - 1000;
  const m = machine();
  log(
    `machine: ${m.cores} cores (${m.cpuModel}), Node ${m.node}, load ${m.loadAverageAtStart.join(' ')}; ` +
      `open files ${limits.soft}/${limits.hard}`,
  );
  log(`config: ${JSON.stringify(config)}`);
  const workersFlag = config.workers.some((w) => w > 1) ? relaySupports('--workers') : true;

  const wantTraffic = config.scenarios.includes('open') || config.scenarios.includes('closed');
  if (wantTraffic) {
    for (const format of config.formats) {
      for (const transport of config.transports) {
        if (config.relay) {
          for (const store of config.stores) {
            for (const workers of config.workers) {
              const cfg: ConfigResult = {
                name: `relay ${format} ${transport} ${store}${workers > 1 ? ` ${workers} workers` : ''}`,
                kind: 'relay',
                format,
                transport,
                store,
                workers,
                ok: false,
                steps: [],
              };
              if (workers > 1 && store === 'memory') {
                cfg.skipped = 'workers need the Redis store';
                results.push(cfg);
                continue;
              }
              if (workers > 1 && !workersFlag) {
                cfg.skipped = `this build's \`serve\` has no --workers flag (not merged yet)`;
                results.push(cfg);
                log(`${cfg.name}: skipped (${cfg.skipped})`);
                continue;
              }
              await runConfig(cfg);
            }
          }
        }
        for (const variant of config.baselines) {
          await runConfig({
            name: `baseline ${variant} ${format} ${transport}`,
            kind: 'baseline',
            format,
            transport,
            variant,
            ok: false,
            steps: [],
          });
        }
      }
    }
  }
  if (config.scenarios.includes('idle') || config.scenarios.includes('pacing')) {
    for (const transport of config.transports) {
      if (config.relay) await runIdle('relay', transport);
      if (config.baselines.length) await runIdle('baseline', transport);
    }
  }

  const text = report(m, limits);
  process.stdout.write(`\n${text}\n`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `realistic-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        durationS: Math.round(elapsedS()),
        machine: m,
        loadAverageAtEnd: os.loadavg(),
        openFiles: limits,
        config,
        criteria: { maxLossPct: PASS_LOSS_PCT, maxP99Ms: PASS_P99_MS },
        configurations: results,
        idle: idleResults,
        markdown: text,
      },
      (_k, v: unknown) => (v === Infinity ? 'Infinity' : v),
      2,
    ) + '\n',
  );
  process.stdout.write(`Report: ${file} (${Math.round(elapsedS())} s)\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench realistic crashed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
