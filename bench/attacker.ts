// Attacker of `npm run bench:hostile`, in its own process (forked by bench/hostile.ts, commands
// over the IPC channel; see bench/lib/protocol.ts). Every socket it opens is bound to one local
// address, so the relay sees one client IP. One attack at a time (issue 8):
//   slow-reader       a recipient that stops reading (paused socket) and a sender relaying large
//                     envelopes to it; the reader comes back with a session token when the relay
//                     would have closed it (a paused socket cannot see the close); optionally
//                     several such recipients, the sender going round them
//   idle-connections  as many TCP connections as the per-IP cap allows, sending nothing,
//                     re-opened when closed
//   token-flood       authenticated once, then re-authenticates with its latest session token in
//                     a loop, a new socket each time, ignoring refusals
//   relay-to-nobody   large envelopes to random identity hashes that have no bundle
// Senders go as fast as the relay lets them: they keep the pace of the shipped per-identity send
// limit, wait when told retry_after, and take a fresh identity when one is jailed.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type WebSocket from 'ws';
import { generateIdentity, type Identity } from '../src/client/identity.js';
import { Refused, challengeAgent, openSession, proofOfIdentity } from './lib/auth.js';
import type { AttackArgs, AttackCommand, AttackReport } from './lib/protocol.js';
import { serveCommands } from './lib/serve-commands.js';

/** Relayed messages written but not answered by a delivery_status, at most. */
const IN_FLIGHT = 8;
/** A connection closed sooner than this was refused rather than timed out. */
const REFUSED_WITHIN_MS = 1000;
const CLOSE_JAILED = 1008;

const agent = challengeAgent(true);

const bump = (counts: Record<string, number>, key: string) =>
  (counts[key] = (counts[key] ?? 0) + 1);

function parseFrame(text: string): Record<string, unknown> | null {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** The relay's error code (and retry_after) of a refusal; `connection` for any other failure. */
function refusalOf(err: unknown): { code: string; retryAfterS: number } {
  if (!(err instanceof Refused)) return { code: 'connection', retryAfterS: 0 };
  const frame = parseFrame(err.answer);
  return {
    code: typeof frame?.code === 'string' ? frame.code : 'unknown',
    retryAfterS: typeof frame?.retry_after === 'number' ? frame.retry_after : 0,
  };
}

/** One running attack: what it holds (to let go of at stop) and what it counts. */
class Attack {
  readonly report: AttackReport;
  stopped = false;
  private open = 0;
  private readonly startedAt: number;
  private readonly sockets = new Set<{ destroy(): void }>();
  private readonly loops: Promise<void>[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Wakes every wait (at stop). */
  private readonly wakers = new Set<() => void>();
  /** Sockets the attacker closed itself (not counted as closed by the relay). */
  private readonly dropped = new WeakSet<WebSocket>();

  constructor(readonly args: AttackArgs) {
    this.report = {
      attack: args.attack,
      setupMs: 0,
      runS: 0,
      connectionsOpened: 0,
      connectionsClosedByRelay: 0,
      maxOpen: 0,
      authOk: 0,
      authRefused: {},
      relaysSent: 0,
      bytesSent: 0,
      statuses: {},
      errors: {},
      backoffS: 0,
      closeCodes: {},
    };
    this.startedAt = performance.now();
  }

  async start(): Promise<void> {
    switch (this.args.attack) {
      case 'slow-reader':
        return this.slowReader();
      case 'idle-connections':
        return this.idleConnections();
      case 'token-flood':
        return this.tokenFlood();
      case 'relay-to-nobody':
        return this.run(this.sendLoop(() => randomBytes(32).toString('hex')));
    }
  }

  /** Stops, closes every socket it holds and reports. */
  async stop(): Promise<AttackReport> {
    this.stopped = true;
    this.report.runS = (performance.now() - this.startedAt) / 1000 - this.report.setupMs / 1000;
    for (const timer of this.timers) clearTimeout(timer);
    for (const wake of this.wakers) wake();
    for (const socket of this.sockets) socket.destroy();
    await Promise.race([Promise.allSettled(this.loops), sleep(5000)]);
    return this.report;
  }

  // --- Helpers -----------------------------------------------------------------------------

  private run(loop: Promise<void>): void {
    this.loops.push(loop.catch((err: unknown) => this.noteError(err)));
  }

  private noteError(err: unknown): void {
    this.report.firstError ??= err instanceof Error ? err.message : String(err);
  }

  private refused(err: unknown): { code: string; retryAfterS: number } {
    const refusal = refusalOf(err);
    bump(this.report.authRefused, refusal.code);
    this.noteError(err);
    return refusal;
  }

  /** Counts a connection until `onClose` is called for it. */
  private hold(destroy: () => void): { release(): void } {
    const handle = { destroy };
    this.sockets.add(handle);
    this.report.connectionsOpened++;
    this.report.maxOpen = Math.max(this.report.maxOpen, ++this.open);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.sockets.delete(handle);
        this.open--;
      },
    };
  }

  private later(fn: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  /** Waits up to `ms`, or until woken (by `wake`, or the stop). */
  private wait(ms: number, onWake?: (wake: () => void) => void): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
      onWake?.(done);
    });
  }

  /**
   * Authenticates `identity` (by session token when one is given, else by PoW and signature);
   * resolves with the socket and its new token; throws Refused or a connection error.
   */
  private async authenticate(
    identity: Identity,
    token: string | undefined,
    onFrame: (frame: Record<string, unknown>) => void = () => undefined,
    onClose: (code: number) => void = () => undefined,
  ): Promise<{ ws: WebSocket; token: string }> {
    const { url, localAddress } = this.args;
    const payload = token
      ? { identity_hash: identity.identityHash, session_token: token }
      : await proofOfIdentity(url, identity, agent, localAddress);
    let ws: WebSocket | undefined;
    const held = this.hold(() => ws?.terminate());
    try {
      const session = await openSession({
        url,
        localAddress,
        hello: JSON.stringify({ type: 'auth', payload: { ...payload, acks: false } }),
        accepted: (text) => text.startsWith('{"type":"auth_success"'),
        onFrame: (data, isBinary) => {
          const frame = isBinary ? null : parseFrame(data.toString('utf8'));
          if (frame) onFrame(frame);
        },
        onClose: (code) => {
          held.release();
          if (this.stopped || this.dropped.has(ws!)) return;
          bump(this.report.closeCodes, String(code));
          onClose(code);
        },
      });
      ws = session.ws;
      this.report.authOk++;
      return { ws, token: String(parseFrame(session.answer)?.session_token) };
    } catch (err) {
      held.release(); // the socket of a refused hello closes by itself
      throw err;
    }
  }

  private drop(ws: WebSocket): void {
    this.dropped.add(ws);
    ws.terminate();
  }

  // --- Sending as fast as the relay lets it ------------------------------------------------

  /**
   * One sender relaying envelopes to `target()` until the attack stops: paced by a token bucket
   * with the relay's send limit, at most IN_FLIGHT unanswered, waiting out every retry_after;
   * a jailed identity is replaced by a fresh one.
   */
  private async sendLoop(target: () => string): Promise<void> {
    const r = this.report;
    const { envelopeBytes, sendLimit } = this.args;
    const envelope = 'A'.repeat(envelopeBytes);
    const perMs = (sendLimit.perWindow / sendLimit.windowMs) * 0.97;
    let tokens = sendLimit.perWindow;
    let tokensAt = performance.now();
    let identity = generateIdentity();
    let token: string | undefined;
    let seq = 0;
    while (!this.stopped) {
      let inFlight = 0;
      let pausedUntil = 0;
      let closedWith: number | undefined;
      let wake: (() => void) | undefined;
      let ws: WebSocket;
      try {
        const onFrame = (frame: Record<string, unknown>) => {
          if (frame.type === 'delivery_status') {
            inFlight = Math.max(0, inFlight - 1);
            const why = frame.reason === undefined ? '' : `:${String(frame.reason)}`;
            bump(r.statuses, `${String(frame.status)}${why}`);
          } else if (frame.type === 'error') {
            bump(r.errors, String(frame.code));
          } else return;
          const retryAfterS = typeof frame.retry_after === 'number' ? frame.retry_after : 0;
          const until = performance.now() + retryAfterS * 1000;
          if (until > pausedUntil) {
            r.backoffS += (until - Math.max(pausedUntil, performance.now())) / 1000;
            pausedUntil = until;
          }
          wake?.();
        };
        const onClose = (code: number) => {
          closedWith = code;
          wake?.();
        };
        ({ ws, token } = await this.authenticate(identity, token, onFrame, onClose));
      } catch (err) {
        const refusal = this.refused(err);
        if (refusal.code === 'auth_failed') token = undefined; // revoked: prove the key again
        if (refusal.retryAfterS > 0) r.backoffS += refusal.retryAfterS;
        await this.wait(Math.max(100, refusal.retryAfterS * 1000));
        continue;
      }
      while (!this.stopped && closedWith === undefined) {
        const now = performance.now();
        tokens = Math.min(sendLimit.perWindow, tokens + (now - tokensAt) * perMs);
        tokensAt = now;
        const waitMs = Math.max(pausedUntil - now, tokens >= 1 ? 0 : (1 - tokens) / perMs);
        if (waitMs > 0 || inFlight >= IN_FLIGHT) {
          await this.wait(waitMs > 0 ? waitMs : 1000, (done) => (wake = done));
          wake = undefined;
          continue;
        }
        tokens -= 1;
        inFlight++;
        r.relaysSent++;
        r.bytesSent += envelope.length;
        const frame = JSON.stringify({ type: 'relay', to: target(), envelope, id: String(seq++) });
        await new Promise<void>((resolve) => ws.send(frame, () => resolve()));
      }
      if (closedWith === CLOSE_JAILED) {
        identity = generateIdentity();
        token = undefined;
      }
    }
  }

  // --- The attacks --------------------------------------------------------------------------

  private async slowReader(): Promise<void> {
    const readers = Array.from({ length: this.args.readers }, () => this.pausedReader());
    await Promise.all(readers.map((reader) => reader.ready));
    let next = 0;
    this.run(this.sendLoop(() => readers[next++ % readers.length]!.identity));
  }

  /**
   * A recipient that never reads: authenticated, then its socket paused. A paused socket never
   * sees the relay close it (4004 after the grace period), so it comes back with a new session
   * just after that would have happened.
   */
  private pausedReader(): { identity: string; ready: Promise<void> } {
    const reader = generateIdentity();
    let current: WebSocket | undefined;
    let token: string | undefined;
    const connect = async () => {
      try {
        const authed = await this.authenticate(reader, token);
        token = authed.token;
        authed.ws.pause(); // stop reading: everything sent to it piles up
        const previous = current;
        current = authed.ws;
        // Replaced (session_replaced): its backlog went back to the queue.
        if (previous) this.drop(previous);
        if (this.stopped) this.drop(authed.ws);
      } catch (err) {
        if (this.refused(err).code === 'auth_failed') token = undefined;
      }
    };
    const again = () =>
      this.later(() => void connect().then(again), this.args.slowReaderGraceMs + 3000);
    return { identity: reader.identityHash, ready: connect().then(again) };
  }

  private idleConnections(): void {
    const { url, localAddress, connections } = this.args;
    const port = Number(new URL(url).port);
    const connect = (): void => {
      if (this.stopped) return;
      const socket = net.connect({ host: '127.0.0.1', port, localAddress });
      const held = this.hold(() => socket.destroy());
      const at = performance.now();
      socket.on('error', () => undefined); // 'close' follows
      socket.on('close', () => {
        held.release();
        if (this.stopped) return;
        this.report.connectionsClosedByRelay++;
        // Refused at accept (over the cap): do not spin; timed out: straight back.
        this.later(connect, performance.now() - at < REFUSED_WITHIN_MS ? 50 : 0);
      });
    };
    for (let i = 0; i < connections; i++) connect();
  }

  private async tokenFlood(): Promise<void> {
    const identity = generateIdentity();
    let { token } = await this.authenticate(identity, undefined);
    const loop = async () => {
      while (!this.stopped) {
        try {
          const authed = await this.authenticate(identity, token);
          token = authed.token;
          this.drop(authed.ws);
        } catch (err) {
          this.refused(err);
        }
      }
    };
    for (let i = 0; i < this.args.concurrency; i++) this.run(loop());
  }
}

// --- Commands -----------------------------------------------------------------------------------

let current: Attack | undefined;

serveCommands(async (req: AttackCommand & { id: number }) => {
  switch (req.cmd) {
    case 'start': {
      if (current && !current.stopped) throw new Error('an attack is already running');
      const attack = (current = new Attack(req.args));
      const begin = performance.now();
      await attack.start();
      attack.report.setupMs = performance.now() - begin;
      return null;
    }
    case 'stop': {
      const attack = current;
      current = undefined;
      return attack ? attack.stop() : null;
    }
    case 'close':
      await current?.stop();
      agent.destroy();
      return null;
  }
});
