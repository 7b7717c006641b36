// One WebSocket connection (PROTOCOL.md §4): pre-auth rules, authentication, relaying, acks.
// Inbound frames are handled one at a time, in order; every outbound frame goes through the
// socket's outbox (padding, jitter, pacing — normalize/traffic-shaper.ts).
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { RelayContext } from '../context.js';
import { RelayError } from '../errors.js';
import type { Json } from '../json.js';
import { padBinary, padJson } from '../normalize/padding.js';
import type { Outbox, TrafficShaper } from '../normalize/traffic-shaper.js';
import type { AuthService } from '../relay/auth-service.js';
import type { Carried, CloseReason, Endpoint, LiveFrame, Router } from '../relay/router.js';
import { handleRelayFrame, type RelayFrameContext } from './relay-frames.js';

export interface SessionDeps {
  ctx: RelayContext;
  router: Router;
  auth: AuthService;
  shaper: TrafficShaper;
  onClosed(session: Session): void;
}

const CLOSE_AUTH = 4001;
const CLOSE_POLICY = 1008;
const CLOSE_SLOW_READER = 4004;
const CLOSE_CODES: Record<CloseReason, number> = {
  session_replaced: 4002,
  account_burned: 4003,
  server_shutdown: 1001,
};
const SENT_IDS_KEPT = 10_000;
const CLOSE_GRACE_MS = 2000;
const DUMMY_TYPES = new Set(['dummy', 'dummy_pacing', 'ping']);
const PRE_AUTH_TYPES = new Set(['auth', 'ping', 'dummy', 'dummy_pacing']);

export class Session implements Endpoint {
  readonly sessionId = randomUUID();
  authAt = 0;
  acks = false;
  identity: string | undefined;
  readonly aliases = new Set<string>();
  private state: 'open' | 'authenticated' | 'closing' | 'closed' = 'open';

  get authenticated(): boolean {
    return this.state === 'authenticated';
  }
  private closeReason: CloseReason | undefined;
  private readonly outbox: Outbox;
  private sent: Set<string> | undefined;
  private inbound: Promise<void> = Promise.resolve();
  /** Bytes of received frames not handled yet. */
  private inboundBytes = 0;
  private authTimer: NodeJS.Timeout | undefined;
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;

  constructor(
    private readonly ws: WebSocket,
    readonly ipKey: string,
    private readonly deps: SessionDeps,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.outbox = deps.shaper.attach(ws, {
      onStalled: () => this.onStalled(),
      onWritable: () => this.onWritable(),
    });
    // Frames are handled one at a time; while more than one message's worth waits, the socket
    // is paused, so a client sending faster than the relay handles cannot make it buffer more.
    const pauseAbove = deps.ctx.config.maxWsMessageBytes;
    ws.on('message', (data, isBinary) => {
      const frame = data as Buffer;
      this.inboundBytes += frame.length;
      if (this.inboundBytes > pauseAbove) ws.pause();
      this.inbound = this.inbound
        .then(() => this.onFrame(frame, isBinary))
        .catch((err: unknown) => {
          deps.ctx.logger.error({ err }, 'frame handling failed');
        })
        .then(() => {
          this.inboundBytes -= frame.length;
          if (ws.isPaused && this.inboundBytes <= pauseAbove) ws.resume();
        });
    });
    ws.on('close', () => void this.onClose());
    ws.on('error', () => undefined); // 'close' follows; nothing to add
    this.authTimer = setTimeout(
      () => this.fail('auth_timeout', 'Authentication timed out', CLOSE_AUTH),
      deps.ctx.config.authTimeoutMs,
    );
  }

  // --- Endpoint (what the router sees) ---------------------------------------------------

  push(frame: LiveFrame, carried?: Carried): boolean {
    if (this.state !== 'authenticated') {
      if (carried) void this.deps.router.undelivered([carried]);
      return true;
    }
    const accepted = this.outbox.enqueue({
      data: frame.kind === 'json' ? padJson(frame.value) : padBinary(frame.data),
      binary: frame.kind === 'binary',
      real: true,
      jitter: true,
      bounded: true,
      carries: carried,
      onWritten: carried ? () => this.deps.router.written(this, carried) : undefined,
    });
    // Over the socket's byte cap: the router keeps it queued until onWritable.
    if (!accepted) return false;
    // Only queued items can come back (a drain or a notification racing it): remember those.
    if (carried?.inQueue) this.remember(carried.id);
    return true;
  }

  hasSent(id: string): boolean {
    return this.sent?.has(id) ?? false;
  }

  closeWith(reason: CloseReason): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.closeReason = reason;
    const messages: Record<CloseReason, string> = {
      session_replaced: 'Another session authenticated for this identity',
      account_burned: 'This account was burned',
      server_shutdown: 'The server is shutting down',
    };
    this.fail(reason, messages[reason], CLOSE_CODES[reason]);
  }

  // --- Outbound helpers ------------------------------------------------------------------

  /** A frame that is not a delivery: no jitter, but still in order behind earlier frames. */
  sendControl(value: Json, real = true): void {
    this.outbox.enqueue({ data: padJson(value), binary: false, real, jitter: false });
  }

  /** A delivery-class frame (delivery_status): jittered like messages. */
  sendJittered(value: Json): void {
    this.outbox.enqueue({ data: padJson(value), binary: false, real: true, jitter: true });
  }

  sendError(code: string, message: string, retryAfter?: number): void {
    const frame: Json = { type: 'error', code, message };
    if (retryAfter !== undefined) frame.retry_after = retryAfter;
    this.sendControl(frame);
  }

  /** Sends an error frame, then closes once it was written (or after a grace period). */
  fail(code: string, message: string, closeCode: number, retryAfter?: number): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    clearTimeout(this.authTimer);
    const close = () => this.ws.close(closeCode, code);
    const grace = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
    grace.unref();
    const frame: Json = { type: 'error', code, message };
    if (retryAfter !== undefined) frame.retry_after = retryAfter;
    this.outbox.enqueue({
      data: padJson(frame),
      binary: false,
      real: true,
      jitter: false,
      onWritten: close,
    });
    // A socket that is already gone gets no write callback: close now.
    if (this.ws.readyState !== this.ws.OPEN) close();
  }

  /** The peer stopped reading: its backlog stayed over the cap for the grace period. */
  private onStalled(): void {
    this.deps.ctx.metrics.slowReaderCloses.inc();
    this.fail('slow_reader', 'The connection does not read its messages', CLOSE_SLOW_READER);
  }

  /** The backlog drained after messages were sent to the queue instead: deliver them now. */
  private onWritable(): void {
    if (this.state !== 'authenticated') return;
    const { router } = this.deps;
    router.resume(this.identity!, this);
    for (const alias of this.aliases) router.resume(alias, this);
  }

  private remember(id: string): void {
    this.sent ??= new Set();
    this.sent.add(id);
    if (this.sent.size > SENT_IDS_KEPT) this.sent.delete(this.sent.values().next().value as string);
  }

  // --- Inbound -----------------------------------------------------------------------------

  private async onFrame(data: Buffer, isBinary: boolean): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return;
    try {
      this.deps.ctx.limiter.takeLocal('ws_frames', this.ipKey);
    } catch (err) {
      this.refuse(err);
      return;
    }
    if (isBinary) {
      if (this.state !== 'authenticated')
        return this.fail('auth_required', 'Authenticate first', CLOSE_AUTH);
      this.outbox.noteInboundReal();
      return handleRelayFrame(this.relayContext(), { binary: data });
    }
    let frame: Json;
    try {
      frame = JSON.parse(data.toString('utf8')) as Json;
    } catch {
      return this.sendError('invalid_message', 'Frames must be JSON objects with a string type');
    }
    if (
      typeof frame !== 'object' ||
      frame === null ||
      Array.isArray(frame) ||
      typeof frame.type !== 'string'
    ) {
      return this.sendError('invalid_message', 'Frames must be JSON objects with a string type');
    }
    const type = frame.type;
    if (!DUMMY_TYPES.has(type)) this.outbox.noteInboundReal();
    if (DUMMY_TYPES.has(type)) return this.answerDummy(frame);
    if (this.state !== 'authenticated') {
      if (!PRE_AUTH_TYPES.has(type))
        return this.fail('auth_required', 'Authenticate first', CLOSE_AUTH);
      return this.authenticate(frame);
    }
    if (type === 'auth')
      return this.sendError('already_authenticated', 'This socket is already authenticated');
    return handleRelayFrame(this.relayContext(), { json: frame });
  }

  private answerDummy(frame: Json): void {
    if (frame.type === 'ping' && this.deps.ctx.config.compat === 'v1') {
      this.sendControl({ type: 'pong', timestamp: frame.timestamp ?? null }, false);
    } else {
      this.sendControl({ type: 'dummy_ack' }, false);
    }
  }

  /** Turns a limiter refusal into an error frame; a jailed socket is closed (1008). */
  refuse(err: unknown): void {
    if (!(err instanceof RelayError)) throw err;
    this.deps.ctx.logger.debug(
      { ip: this.ipKey && this.deps.ctx.blinder.tag(this.ipKey), code: err.code },
      'ws frame refused',
    );
    if (
      err.code === 'rate_limited' &&
      (err.retryAfterS ?? 0) >= this.deps.ctx.config.jailSeconds - 1
    ) {
      this.sendError(
        'rate_limited',
        'Too many frames: this connection is ignored for a while',
        err.retryAfterS,
      );
      this.fail('rate_limited', 'Jailed', CLOSE_POLICY);
      return;
    }
    this.sendError(err.code, err.message, err.retryAfterS);
  }

  private async authenticate(frame: Json): Promise<void> {
    const payload = frame.payload;
    if (payload === undefined) return; // v1 clients send an empty auth first
    const { auth, router, ctx } = this.deps;
    let result;
    try {
      result = await auth.authenticate(payload, this.ipKey);
    } catch (err) {
      if (!(err instanceof RelayError)) throw err;
      if (err.code === 'storage_unavailable') return this.fail(err.code, err.message, 1011);
      if (err.code === 'rate_limited') {
        const message = 'Too many authentication attempts';
        return this.fail(err.code, message, CLOSE_POLICY, err.retryAfterS);
      }
      return this.fail('auth_failed', err.message, CLOSE_AUTH);
    }
    if (this.state !== 'open') return;
    clearTimeout(this.authTimer);
    this.authTimer = undefined;
    this.state = 'authenticated';
    this.identity = result.identity;
    this.acks = result.acks;
    this.authAt = Date.now();
    ctx.metrics.activeConnections.inc();
    this.sendControl({
      type: 'auth_success',
      identity_hash: result.identity,
      session_token: result.token,
      keys_missing: result.keysMissing,
      prekeys: result.prekeys,
    });
    this.outbox.enablePacing();
    try {
      await router.register(result.identity, this);
      await router.drain(result.identity);
    } catch (err) {
      // Without its subscription the session would miss messages: better to let the client retry.
      if (!(err instanceof RelayError)) throw err;
      this.fail(err.code, err.message, 1011);
    }
  }

  private relayContext(): RelayFrameContext {
    return { session: this, identity: this.identity!, deps: this.deps };
  }

  private async onClose(): Promise<void> {
    if (this.state === 'closed') return;
    const wasAuthenticated = this.identity !== undefined;
    this.state = 'closed';
    clearTimeout(this.authTimer);
    const { router, ctx } = this.deps;
    const unsent = this.outbox.close().flatMap((f) => (f.carries ? [f.carries as Carried] : []));
    try {
      if (wasAuthenticated) {
        ctx.metrics.activeConnections.dec();
        await router.unregister(this.identity!, this);
        for (const alias of this.aliases) await router.unregister(alias, this);
      }
    } catch (err) {
      ctx.logger.warn({ err }, 'session cleanup incomplete');
    }
    try {
      await router.undelivered(unsent, this.closeReason);
    } catch (err) {
      ctx.logger.error({ err }, 'could not requeue undelivered frames');
    } finally {
      this.deps.onClosed(this);
      this.resolveClosed();
    }
  }
}
