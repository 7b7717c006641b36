// The baseline of `npm run bench` (bench/realistic.ts): a minimal `ws` relay on the same kind of
// server as the relay under test (https with TLS 1.3 only, or plain http), with none of its
// features: no authentication, padding, jitter, pacing, rate limits or delivery status unless
// asked for below.
//
// A client names itself in its first text frame (64 hex characters) and gets the text "ok".
// After that, binary frames `[64 hex recipient][payload]` and JSON text frames
// `{"type":"relay","to":H,...}` are forwarded as they are to the recipient's socket, if it is
// connected (otherwise dropped).
//
// Optional features, so that the relay can be compared with a bare relay doing the same
// normalisation work (bench/realistic.ts runs the variants bare, +padding, +padding+jitter and
// +padding+jitter+status):
//   BASELINE_PAD=1536        forwarded frames padded to a multiple of this many bytes (binary:
//                            zero bytes; text: spaces, still valid JSON)
//   BASELINE_JITTER_MS=10-50 each forwarded frame waits a uniformly random delay in this range;
//                            frames to one socket keep their order (due = max(now + jitter,
//                            previous frame's due)), as the relay does
//   BASELINE_STATUS=1        once a forwarded frame is written, its sender gets a padded JSON
//                            `delivery_status` text frame (jittered like a forwarded frame): the
//                            second frame the relay's protocol writes for every message
//   BASELINE_PACING_MS=500   a socket that sent a frame within BASELINE_PACING_IDLE_MS (default
//                            30000) gets a padded `dummy_pacing` text frame every interval unless
//                            a forwarded frame went to it since the last one (the relay's pacing;
//                            ten ticks per interval, each visiting a tenth of the sockets)
//
// Env: BASELINE_TLS_CERT / BASELINE_TLS_KEY (PEM files; both unset: plain http),
//      BASELINE_ADDR (default 127.0.0.1), BASELINE_PORT (default 0 = any free port).
// Prints one JSON line {"port":N} on stdout once listening. Dependencies: node and ws only, so
// bench/lib/procs.ts can run it transpiled, without a TypeScript loader in the measured process.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocketServer, type WebSocket } from 'ws';

const HASH_LEN = 64;
const ID = /^[0-9a-f]{64}$/;

const pad = Number(process.env.BASELINE_PAD ?? 0);
const [jitterMin, jitterMax] = (process.env.BASELINE_JITTER_MS ?? '0-0').split('-').map(Number) as [
  number,
  number,
];
const jitter = jitterMax > 0;
const status = process.env.BASELINE_STATUS === '1';
const pacingMs = Number(process.env.BASELINE_PACING_MS ?? 0);
const pacingIdleMs = Number(process.env.BASELINE_PACING_IDLE_MS ?? 30_000);

const certFile = process.env.BASELINE_TLS_CERT;
const keyFile = process.env.BASELINE_TLS_KEY;
const server: Server =
  certFile && keyFile
    ? (createHttpsServer({
        cert: readFileSync(certFile),
        key: readFileSync(keyFile),
        minVersion: 'TLSv1.3',
        maxVersion: 'TLSv1.3',
      }) as unknown as Server)
    : createHttpServer();

interface Delayed {
  due: number;
  data: Buffer;
  binary: boolean;
  /** The sender, told with a delivery_status once the frame is written (BASELINE_STATUS). */
  from?: WebSocket;
}
/** Frames waiting for their jitter, per recipient socket, in due order. */
const waiting = new Map<WebSocket, Delayed[]>();

function padded(data: Buffer, binary: boolean): Buffer {
  if (!pad) return data;
  const size = Math.max(pad, Math.ceil(data.length / pad) * pad);
  if (size === data.length) return data;
  const out = Buffer.allocUnsafe(size);
  data.copy(out, 0);
  out.fill(binary ? 0 : 0x20, data.length);
  return out;
}

/**
 * Writes the frames of `to` due at or before `due` (the timer of the frame due then fired; the
 * ones before it in the queue are due no later). Timers fire on the event loop's millisecond
 * clock, so comparing with performance.now() could find a frame "not yet due" and strand it.
 */
function flush(to: WebSocket, due: number): void {
  const queue = waiting.get(to);
  if (!queue) return;
  while (queue.length && queue[0]!.due <= due) {
    const item = queue.shift()!;
    write(to, item.data, item.binary, item.from);
  }
  if (!queue.length) waiting.delete(to);
}

/** Sockets that sent a frame within pacingIdleMs: last inbound time, and whether a forwarded
 *  frame went to them since the last pacing tick. */
interface Pace {
  ws: WebSocket;
  lastInbound: number;
  wroteSinceTick: boolean;
  slice: number;
}
const paced = new Map<WebSocket, Pace>();
/** The paced sockets by pacing tick (of ten per interval). */
const slices = Array.from({ length: 10 }, () => new Set<Pace>());
let nextSlice = 0;

function unpace(ws: WebSocket): void {
  const pace = paced.get(ws);
  if (!pace) return;
  paced.delete(ws);
  slices[pace.slice]!.delete(pace);
}

function write(to: WebSocket, data: Buffer, binary: boolean, from: WebSocket | undefined): void {
  to.send(data, { binary });
  const pace = paced.get(to);
  if (pace) pace.wroteSinceTick = true;
  if (from) forward(from, STATUS, false);
}

function forward(to: WebSocket | undefined, data: Buffer, binary: boolean, from?: WebSocket): void {
  if (!to) return;
  const frame = padded(data, binary);
  if (!jitter) return void write(to, frame, binary, from);
  let queue = waiting.get(to);
  if (!queue) waiting.set(to, (queue = []));
  const now = performance.now();
  const due = Math.max(
    now + jitterMin + Math.random() * (jitterMax - jitterMin),
    queue[queue.length - 1]?.due ?? 0,
  );
  queue.push({ due, data: frame, binary, from });
  setTimeout(() => flush(to, due), due - now);
}

// What the relay sends a sender for each message; padded afresh by forward().
const STATUS = Buffer.from(
  JSON.stringify({
    type: 'delivery_status',
    id: null,
    target: '0'.repeat(HASH_LEN),
    status: 'delivered',
  }),
);
const DUMMY = Buffer.from(JSON.stringify({ type: 'dummy_pacing' }));

function noteInbound(ws: WebSocket): void {
  if (!pacingMs) return;
  const pace = paced.get(ws);
  if (pace) {
    pace.lastInbound = performance.now();
    return;
  }
  const created = { ws, lastInbound: performance.now(), wroteSinceTick: false, slice: nextSlice };
  nextSlice = (nextSlice + 1) % slices.length;
  paced.set(ws, created);
  slices[created.slice]!.add(created);
}

if (pacingMs) {
  // Ticks on a fixed schedule (a late tick does not push the later ones back).
  const every = pacingMs / slices.length;
  let tick = 0;
  let nextAt = performance.now() + every;
  const run = () => {
    const now = performance.now();
    for (const pace of slices[tick]!) {
      if (now - pace.lastInbound > pacingIdleMs) unpace(pace.ws);
      else if (pace.wroteSinceTick) pace.wroteSinceTick = false;
      else pace.ws.send(padded(DUMMY, false), { binary: false });
    }
    tick = (tick + 1) % slices.length;
    nextAt = Math.max(nextAt + every, now);
    setTimeout(run, nextAt - now);
  };
  setTimeout(run, every);
}

const peers = new Map<string, WebSocket>();
const wss = new WebSocketServer({
  server,
  perMessageDeflate: false,
  clientTracking: false,
  maxPayload: 1024 * 1024,
});

wss.on('connection', (ws) => {
  let id: string | undefined;
  ws.on('error', () => undefined);
  ws.on('close', () => {
    if (id !== undefined && peers.get(id) === ws) peers.delete(id);
    waiting.delete(ws);
    unpace(ws);
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (id === undefined) {
      const text = isBinary ? '' : data.toString('latin1');
      if (!ID.test(text)) return void ws.close(4001, 'hello expected');
      id = text;
      peers.set(id, ws);
      ws.send('ok');
      return;
    }
    noteInbound(ws);
    const from = status ? ws : undefined;
    if (isBinary) {
      if (data.length <= HASH_LEN) return;
      forward(peers.get(data.toString('latin1', 0, HASH_LEN)), data, true, from);
      return;
    }
    let frame: { type?: unknown; to?: unknown } | null;
    try {
      frame = JSON.parse(data.toString('utf8')) as { type?: unknown; to?: unknown } | null;
    } catch {
      return;
    }
    if (frame?.type === 'relay' && typeof frame.to === 'string') {
      forward(peers.get(frame.to), data, false, from);
    }
  });
});

server.listen(
  Number(process.env.BASELINE_PORT ?? 0),
  process.env.BASELINE_ADDR ?? '127.0.0.1',
  () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  },
);

const stop = () => {
  for (const ws of peers.values()) ws.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
