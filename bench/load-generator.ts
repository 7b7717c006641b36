// Load generator of `npm run bench` (bench/realistic.ts) and `npm run bench:hostile`, run in its own process
// (forked by the orchestrator, commands over the IPC channel; see bench/lib/protocol.ts). It opens
// sender/recipient pairs of raw `ws` sockets against the relay under test (PoW + Ed25519
// authentication, docs/protocol.md §4.2) or against the baseline relay (a hello naming the socket's
// id), and drives traffic: closed loop (a window of messages in flight per pair) to find
// saturation, or open loop (a fixed total rate, round robin over the pairs: each pair sends at
// rate/pairs msg/s, the pairs' phases evenly spread) for latency. Senders put a sequence number and
// a time stamp (performance.now of this process) in each payload; recipients are in the same
// process, so end-to-end latency needs no clock agreement. Closed loop stamps the send time. Open
// loop stamps the time the message was SCHEDULED (fixed in advance: message n at begin + n/rate),
// never skips a message because the generator fell behind, and sends late ones at once: latency
// then includes any lag of the generator itself (reported apart, see `sendLag`), so coordinated
// omission cannot hide a stall.
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { generateIdentity } from '../src/client/identity.js';
import { challengeAgent, openSession, proofOfIdentity, uploadBundle } from './lib/auth.js';
import { serveCommands } from './lib/serve-commands.js';
import { withTimeout } from '../src/time.js';
import type {
  Format,
  LatencyStats,
  PokeResult,
  Request,
  SetupArgs,
  SetupResult,
  Snapshot,
  StopResult,
  Target,
  TrafficArgs,
  WindowStats,
} from './lib/protocol.js';

const HASH_LEN = 64;
// Binary payload: magic u32, pair u32, seq u32, reserved u32, send time f64 (ms), filler.
const MAGIC = 0xbe7c4a11;
const HEADER = 24;
const ENVELOPE_MARK = Buffer.from('"envelope":"bm:');
const T = (s: string) => Buffer.from(s);
const PREFIX_STATUS = T('{"type":"delivery_status"');
const PREFIX_DUMMY = T('{"type":"dummy_pacing"');
const PREFIX_ERROR = T('{"type":"error"');
const REJECTED = T('"status":"rejected"');
const MAX_BUFFERED = 1 << 20;

interface Session {
  index: number;
  id: string;
  idBuf: Buffer;
  ws: WebSocket;
}

let target: Target | undefined;
let sessions: Session[] = [];
let agent: http.Agent | undefined;

// Traffic state.
let format: Format = 'binary';
let payloadBytes = 128;
let pairsUsed = 0;
let running = false;
let closedLoop = false;
let recording = false;
let openTimer: NodeJS.Timeout | undefined;
let openRate = 0;
let openBegin = 0;
let openIssued = 0;
let openPair = 0;
// Open-loop send lag (actual send − scheduled time) of the recorded window, 1 ms buckets.
const LAG_BUCKETS = 2001;
let lagHistogram = new Uint32Array(LAG_BUCKETS);
let lagMax = 0;
// The recorded window: messages sent between these two instants (performance.now, ms).
let windowFrom = Infinity;
let windowTo = Infinity;
let windowSent = 0;
let windowStart: Snapshot | undefined;
let nextSeq = new Uint32Array(0);
let expectSeq = new Uint32Array(0);
let jsonFiller = '';
let samples = new Float64Array(1 << 16);
let sampleCount = 0;
const errorSamples: string[] = [];
let windowErrors: string[] = [];

const counters = {
  sent: 0,
  delivered: 0,
  statuses: 0,
  rejected: 0,
  errors: 0,
  dummies: 0,
  other: 0,
  skipped: 0,
  outOfOrder: 0,
  unexpectedCloses: 0,
};

// Poke (idle scenario): each session relays one message to itself.
let pokeWaiting = 0;
let pokeDone: (() => void) | undefined;
let poked: Uint8Array | undefined;

function startsWith(data: Buffer, prefix: Buffer): boolean {
  return (
    data.length >= prefix.length && data.compare(prefix, 0, prefix.length, 0, prefix.length) === 0
  );
}

function noteError(text: string): void {
  if (errorSamples.length < 10) errorSamples.push(text.slice(0, 300));
  if (recording && windowErrors.length < 10) windowErrors.push(text.slice(0, 300));
}

function snapshot(): Snapshot {
  const cpu = process.cpuUsage();
  return { at: performance.now(), ...counters, cpuUserUs: cpu.user, cpuSystemUs: cpu.system };
}

// --- Receiving ----------------------------------------------------------------------------

function onDelivered(pair: number, seq: number, sentAt: number, now: number): void {
  if (pair >= pairsUsed) {
    // A message a session sent to itself (poke).
    if (poked !== undefined && poked[pair] === 0) {
      poked[pair] = 1;
      if (--pokeWaiting === 0) pokeDone?.();
    }
    return;
  }
  counters.delivered++;
  const expected = expectSeq[pair]!;
  if (seq !== expected) counters.outOfOrder++;
  expectSeq[pair] = seq + 1;
  if (sentAt >= windowFrom && sentAt <= windowTo) {
    if (sampleCount === samples.length) {
      const grown = new Float64Array(samples.length * 2);
      grown.set(samples);
      samples = grown;
    }
    samples[sampleCount++] = now - sentAt;
  }
  if (closedLoop && running) send(pair);
}

function onBinary(data: Buffer): void {
  // The relay delivers the payload (zero-padded); the baseline forwards the frame as is.
  const off = target!.kind === 'relay' ? 0 : HASH_LEN;
  if (data.length < off + HEADER || data.readUInt32LE(off) !== MAGIC) {
    counters.other++;
    return;
  }
  onDelivered(
    data.readUInt32LE(off + 4),
    data.readUInt32LE(off + 8),
    data.readDoubleLE(off + 16),
    performance.now(),
  );
}

function onText(index: number, data: Buffer): void {
  const mark = data.indexOf(ENVELOPE_MARK);
  if (mark >= 0) {
    // "envelope":"bm:<pair>:<seq>:<send time µs>:<filler>"
    const start = mark + ENVELOPE_MARK.length;
    const parts = data.toString('latin1', start, Math.min(data.length, start + 48)).split(':');
    onDelivered(Number(parts[0]), Number(parts[1]), Number(parts[2]) / 1000, performance.now());
    return;
  }
  if (startsWith(data, PREFIX_STATUS)) {
    counters.statuses++;
    if (data.indexOf(REJECTED) >= 0) {
      counters.rejected++;
      noteError(data.toString('utf8').trimEnd());
    }
  } else if (startsWith(data, PREFIX_DUMMY)) {
    counters.dummies++;
  } else if (startsWith(data, PREFIX_ERROR)) {
    counters.errors++;
    noteError(`session ${index}: ${data.toString('utf8').trimEnd()}`);
  } else {
    counters.other++;
  }
}

// --- Sending ------------------------------------------------------------------------------

function frameFor(
  from: number,
  to: Session,
  pair: number,
  seq: number,
  stamp = performance.now(),
): Buffer | string {
  if (format === 'binary') {
    const frame = Buffer.allocUnsafe(HASH_LEN + payloadBytes);
    to.idBuf.copy(frame, 0);
    frame.writeUInt32LE(MAGIC, HASH_LEN);
    frame.writeUInt32LE(pair, HASH_LEN + 4);
    frame.writeUInt32LE(seq, HASH_LEN + 8);
    frame.writeUInt32LE(from, HASH_LEN + 12);
    frame.writeDoubleLE(stamp, HASH_LEN + 16);
    frame.fill(0x61, HASH_LEN + HEADER);
    return frame;
  }
  const head = `bm:${pair}:${seq}:${Math.round(stamp * 1000)}:`;
  const envelope = head + jsonFiller.slice(0, Math.max(0, payloadBytes - head.length));
  return `{"type":"relay","to":"${to.id}","envelope":"${envelope}"}`;
}

/**
 * Sends the next message of `pair`. `stamp`: its scheduled time (open loop), else now. In open
 * loop a message that cannot be written (socket closed, or more than MAX_BUFFERED waiting) is
 * still counted as sent in its window: it is lost, not skipped.
 */
function send(pair: number, stamp?: number): boolean {
  const sender = sessions[2 * pair]!;
  const at = stamp ?? performance.now();
  const inWindow = at >= windowFrom && at <= windowTo;
  if (stamp !== undefined && inWindow) windowSent++;
  if (sender.ws.readyState !== WebSocket.OPEN || sender.ws.bufferedAmount > MAX_BUFFERED) {
    counters.skipped++;
    return false;
  }
  const seq = nextSeq[pair]!;
  nextSeq[pair] = seq + 1;
  sender.ws.send(frameFor(sender.index, sessions[2 * pair + 1]!, pair, seq, at));
  counters.sent++;
  if (stamp === undefined && inWindow) windowSent++;
  return true;
}

// --- Connecting ---------------------------------------------------------------------------

async function connectOne(index: number, args: SetupArgs): Promise<Session> {
  const t = args.target;
  let hello: string;
  let id: string;
  const n = args.localAddresses.length;
  const localAddress = n
    ? args.localAddresses[(args.addressPerPair ? Math.floor(index / 2) : index) % n]
    : undefined;
  if (t.kind === 'relay') {
    const identity = generateIdentity();
    id = identity.identityHash;
    if (args.bundles) await uploadBundle(t.url, identity, agent!, localAddress);
    const payload = await proofOfIdentity(t.url, identity, agent!, localAddress);
    hello = JSON.stringify({ type: 'auth', payload: { ...payload, acks: false } });
  } else {
    id = randomBytes(32).toString('hex');
    hello = id;
  }
  const { ws } = await openSession({
    url: t.url,
    localAddress,
    hello,
    accepted: (text) =>
      t.kind === 'relay' ? text.startsWith('{"type":"auth_success"') : text === 'ok',
    onFrame: (data, isBinary) => {
      if (isBinary) onBinary(data);
      else onText(index, data);
    },
    onClose: () => {
      if (running || recording) counters.unexpectedCloses++;
    },
  });
  return { index, id, idBuf: Buffer.from(id, 'latin1'), ws };
}

async function setup(args: SetupArgs): Promise<SetupResult> {
  target = args.target;
  agent = challengeAgent(args.target.tls);
  const started = performance.now();
  const spacingMs = args.perSecond ? 1000 / args.perSecond : 0;
  const kept = args.append ? sessions : [];
  const base = kept.length;
  const slots: (Session | undefined)[] = new Array<Session | undefined>(args.sessions);
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const deadline = started + args.timeoutMs;
  const worker = async () => {
    while (next < args.sessions && performance.now() < deadline) {
      const index = next++;
      if (spacingMs) await sleep(started + index * spacingMs - performance.now());
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          slots[index] = await connectOne(base + index, args);
          break;
        } catch (err) {
          if (attempt === 1) {
            failed++;
            firstError ??= (err as Error).message;
          }
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(args.concurrency, args.sessions) }, worker));
  agent.destroy();
  const notAttempted = args.sessions - next;
  // Keep indexes stable: a pair with a failed member is unusable, so setups with failures are
  // only accepted by scenarios that do not pair sessions (idle).
  sessions = [...kept, ...slots.filter((s): s is Session => s !== undefined)];
  sessions.forEach((s, i) => (s.index = i));
  return {
    connected: sessions.length - base,
    total: sessions.length,
    failed,
    notAttempted,
    firstError,
    ms: performance.now() - started,
  };
}

// --- Commands -----------------------------------------------------------------------------

function start(args: TrafficArgs): null {
  if (running) throw new Error('traffic already running');
  format = args.format;
  payloadBytes = Math.max(HEADER + 8, args.payloadBytes);
  jsonFiller = 'x'.repeat(payloadBytes);
  pairsUsed = Math.min(
    args.pairs ?? Math.floor(sessions.length / 2),
    Math.floor(sessions.length / 2),
  );
  if (pairsUsed === 0) throw new Error('no pairs connected');
  nextSeq = new Uint32Array(pairsUsed);
  expectSeq = new Uint32Array(pairsUsed);
  running = true;
  closedLoop = args.mode === 'closed';
  if (closedLoop) {
    const window = args.window ?? 16;
    for (let w = 0; w < window; w++) for (let p = 0; p < pairsUsed; p++) send(p);
    return null;
  }
  openPair = 0;
  setRate({ rate: args.rate ?? 1000 });
  openTimer = setInterval(openTick, 1);
  return null;
}

/** Sends every open-loop message scheduled up to now, each stamped with its scheduled time. */
function openTick(): void {
  const now = performance.now();
  const period = 1000 / openRate;
  for (;;) {
    const stamp = openBegin + openIssued * period;
    if (stamp > now) break;
    openIssued++;
    if (stamp >= windowFrom && stamp <= windowTo) {
      const lag = now - stamp;
      lagHistogram[Math.min(LAG_BUCKETS - 1, Math.floor(lag))]!++;
      if (lag > lagMax) lagMax = lag;
    }
    send(openPair, stamp);
    openPair = openPair + 1 === pairsUsed ? 0 : openPair + 1;
  }
}

/** Changes the open-loop rate from now on. */
function setRate(args: { rate: number }): null {
  openRate = args.rate;
  openBegin = performance.now();
  openIssued = 0;
  return null;
}

/**
 * Starts (record: true) or ends (record: false) the recorded window: latency is sampled for the
 * messages sent inside it, whenever they arrive.
 */
function mark(args: { record: boolean }): Snapshot {
  const snap = snapshot();
  if (args.record && !recording) {
    sampleCount = 0;
    windowSent = 0;
    lagHistogram = new Uint32Array(LAG_BUCKETS);
    lagMax = 0;
    windowFrom = snap.at;
    windowTo = Infinity;
    windowStart = snap;
    windowErrors = [];
  }
  if (!args.record && recording) windowTo = snap.at;
  recording = args.record;
  return snap;
}

/** Latency of the samples; `of` (≥ samples) counts messages never delivered as Infinity. */
function latencyStats(of = sampleCount): LatencyStats | null {
  if (sampleCount === 0) return null;
  const sorted = samples.slice(0, sampleCount).sort();
  const at = (q: number) => {
    const i = Math.floor(of * q);
    return i < sorted.length ? sorted[i]! : Infinity;
  };
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sampleCount,
    mean: sum / sampleCount,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: sorted[sorted.length - 1]!,
  };
}

/** Open-loop send lag of the recorded window (ms; p99 to the 1 ms bucket's upper bound). */
function lagStats(): WindowStats['sendLag'] {
  let total = 0;
  for (const c of lagHistogram) total += c;
  if (total === 0) return undefined;
  const upTo = (q: number) => {
    let seen = 0;
    for (let i = 0; i < LAG_BUCKETS; i++) {
      seen += lagHistogram[i]!;
      if (seen >= total * q) return i + 1;
    }
    return LAG_BUCKETS;
  };
  return { p50: upTo(0.5), p99: upTo(0.99), max: lagMax };
}

/** The last recorded window, once its messages arrived or `waitMs` passed. */
async function windowStats(args: { waitMs: number }): Promise<WindowStats> {
  if (recording) throw new Error('the window is still recording');
  const until = performance.now() + args.waitMs;
  while (sampleCount < windowSent && performance.now() < until) await sleep(20);
  const end = snapshot();
  const ofSent = latencyStats(windowSent);
  return {
    sent: windowSent,
    delivered: sampleCount,
    latency: latencyStats(),
    ofSent: { p50: ofSent?.p50 ?? NaN, p99: ofSent?.p99 ?? NaN },
    sendLag: lagStats(),
    skipped: end.skipped - (windowStart?.skipped ?? 0),
    rejected: end.rejected - (windowStart?.rejected ?? 0),
    errors: end.errors - (windowStart?.errors ?? 0),
    unexpectedCloses: end.unexpectedCloses - (windowStart?.unexpectedCloses ?? 0),
    errorSamples: windowErrors,
  };
}

async function stop(args: { drainMs: number }): Promise<StopResult> {
  running = false;
  recording = false;
  clearInterval(openTimer);
  openTimer = undefined;
  const until = performance.now() + args.drainMs;
  while (counters.delivered + counters.rejected < counters.sent && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    latency: latencyStats(),
    undelivered: counters.sent - counters.delivered - counters.rejected,
    final: snapshot(),
    errorSamples: [...errorSamples],
  };
}

/** Every session relays one real message to itself (so pacing starts), and waits for them. */
async function poke(args: { timeoutMs: number }): Promise<PokeResult> {
  const begin = performance.now();
  pairsUsed = 0;
  format = 'binary';
  payloadBytes = HEADER + 8;
  poked = new Uint8Array(sessions.length);
  pokeWaiting = sessions.length;
  const done = new Promise<void>((resolve) => {
    pokeDone = resolve;
    setTimeout(resolve, args.timeoutMs);
  });
  for (const s of sessions) {
    if (s.ws.readyState === WebSocket.OPEN) s.ws.send(frameFor(s.index, s, s.index, 0));
  }
  await done;
  return { delivered: sessions.length - pokeWaiting, ms: performance.now() - begin };
}

async function close(): Promise<null> {
  running = false;
  clearInterval(openTimer);
  const closed = sessions.map(
    (s) =>
      new Promise<void>((resolve) => {
        if (s.ws.readyState === WebSocket.CLOSED) return resolve();
        s.ws.once('close', () => resolve());
        s.ws.terminate();
      }),
  );
  await withTimeout(Promise.all(closed), 5000);
  sessions = [];
  return null;
}

async function handle(req: Request): Promise<unknown> {
  switch (req.cmd) {
    case 'setup':
      return setup(req.args);
    case 'start':
      return start(req.args);
    case 'mark':
      return mark(req.args);
    case 'window':
      return windowStats(req.args);
    case 'rate':
      return setRate(req.args);
    case 'stop':
      return stop(req.args);
    case 'poke':
      return poke(req.args);
    case 'close':
      return close();
  }
}

serveCommands(handle);
