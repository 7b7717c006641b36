// One WebSocket connection (docs/protocol.md §4): parses each frame, applies the pre-auth rules,
// authenticates, and hands authenticated frames to the relay domain; writes what the domain
// gives it through the socket's outbox (padding, jitter, pacing — normalize/). Inbound frames are
// handled one at a time, in order.
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Config } from '../config.js';
import { RelayError, asRelayError, type ErrorCode } from '../errors.js';
import type { Json } from '../json.js';
import { MAX_JSON_DEPTH, parseJsonObject } from '../json-input.js';
import type { IpBlinder, Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { padBinaryFrame, padJsonFrame } from '../normalize/padding.js';
import type { OutboundFrame, Outbox, TrafficShaper } from '../normalize/traffic-shaper.js';
import type { RateLimiter } from '../ratelimit/limiter.js';
import type { AuthService } from '../relay/auth-service.js';
import type { CloseReason } from '../relay/channel.js';
import type { Delivery } from '../relay/deliveries.js';
import type { Carried } from '../relay/endpoint.js';
import type { RelayService, SenderSession } from '../relay/relay-service.js';
import type { Router } from '../relay/router.js';
import { closeCodeFor, errorFrame } from './error-frame.js';
import { SocketSink } from './socket-sink.js';

export interface SessionDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  blinder: IpBlinder;
  limiter: RateLimiter;
  auth: AuthService;
  router: Router;
  relay: RelayService;
  shaper: TrafficShaper;
  onClosed(session: Session): void;
}

/** How long a closing socket may take to write its last frame before it is cut. */
const CLOSE_GRACE_MS = 2000;
const DUMMY_TYPES = new Set(['dummy', 'dummy_pacing', 'ping']);
const PRE_AUTH_TYPES = new Set(['auth', 'ping', 'dummy', 'dummy_pacing']);
const CLOSE_MESSAGES: Record<CloseReason, string> = {
  session_replaced: 'Another session authenticated for this identity',
  account_burned: 'This account was burned',
  server_shutdown: 'The server is shutting down',
};

export class Session implements SenderSession {
  readonly sessionId = randomUUID();
  authAt = 0;
  acks = false;
  readonly aliases = new Set<string>();
  private state: 'open' | 'authenticated' | 'closing' | 'closed' = 'open';
  private authedAs: string | undefined;
  private closeReason: CloseReason | undefined;
  private readonly outbox: Outbox;
  /** Frames received while an earlier one was still being handled, in order. */
  private readonly backlog: Array<{ data: Buffer; isBinary: boolean }> = [];
  /** A frame's handling is waiting for the store: later frames go to the backlog. */
  private handling = false;
  /** Bytes of received frames not handled yet. */
  private inboundBytes = 0;
  private authTimer: NodeJS.Timeout | undefined;
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;

  constructor(
    private readonly ws: WebSocket,
    socket: Duplex,
    readonly ipKey: string,
    private readonly deps: SessionDeps,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.outbox = deps.shaper.attach(new SocketSink(ws, socket), {
      onStalled: () => this.onStalled(),
      onWritable: () => this.onWritable(),
    });
    // While more than one message's worth waits to be handled the socket is paused, so a client
    // sending faster than the relay handles cannot make it buffer more.
    ws.on('message', this.onMessage);
    ws.on('close', () => void this.onClose());
    ws.on('error', () => undefined); // 'close' follows; nothing to add
    this.authTimer = setTimeout(
      () => this.fail('auth_timeout', 'Authentication timed out'),
      deps.config.authTimeoutMs,
    );
  }

  get authenticated(): boolean {
    return this.state === 'authenticated';
  }

  get identity(): string {
    if (this.authedAs === undefined) throw new Error('not authenticated');
    return this.authedAs;
  }

  // --- What the relay domain calls (Endpoint, SenderSession) -----------------------------

  push(delivery: Delivery, carried?: Carried): boolean {
    if (this.state !== 'authenticated') {
      if (carried) void this.deps.router.undelivered([carried], this.closeReason);
      return true;
    }
    // Over the socket's byte cap the outbox refuses: the router keeps it queued (onWritable).
    return this.outbox.enqueue({
      data: delivery.kind === 'json' ? padJsonFrame(delivery.value) : padBinaryFrame(delivery.data),
      binary: delivery.kind === 'binary',
      framed: true,
      real: true,
      jitter: true,
      bounded: true,
      carries: carried,
      onWritten: carried ? this.onCarriedWritten : undefined,
    });
  }

  private readonly onCarriedWritten = (frame: OutboundFrame): void =>
    this.deps.router.written(this, frame.carries as Carried);

  closeWith(reason: CloseReason): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.closeReason = reason;
    this.fail(reason, CLOSE_MESSAGES[reason]);
  }

  sendStatus(frame: Json): void {
    const data = padJsonFrame(frame);
    this.outbox.enqueue({ data, binary: false, framed: true, real: true, jitter: true });
  }

  /** A frame that is not a delivery: no jitter, but still in order behind earlier frames. */
  sendControl(frame: Json, real = true): void {
    const data = padJsonFrame(frame);
    this.outbox.enqueue({ data, binary: false, framed: true, real, jitter: false });
  }

  // --- Closing ---------------------------------------------------------------------------

  /** Sends an `error` frame, then closes with the code's close code once it was written (or
   *  after a grace period). */
  private fail(code: ErrorCode, message: string, retryAfterS?: number): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    clearTimeout(this.authTimer);
    const close = () => this.ws.close(closeCodeFor(code), code);
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
    this.outbox.enqueue({
      data: padJsonFrame(errorFrame(new RelayError(400, code, message, retryAfterS))),
      binary: false,
      framed: true,
      real: true,
      jitter: false,
      onWritten: close,
    });
    // A socket that is already gone gets no write callback: close now.
    if (this.ws.readyState !== this.ws.OPEN) close();
  }

  /**
   * The answer to a refusal: an `error` frame. A jailed bucket (its retry time is the whole jail)
   * also closes the socket with 1008.
   */
  private refuse(err: unknown): void {
    const error = asRelayError(err);
    const { logger, blinder, config } = this.deps;
    logger.debug({ ip: blinder.tag(this.ipKey), code: error.code }, 'ws frame refused');
    if (error.code !== 'rate_limited' || (error.retryAfterS ?? 0) < config.jailSeconds - 1) {
      return this.sendControl({ ...errorFrame(error) });
    }
    const message = 'Too many frames: this connection is ignored for a while';
    this.fail('rate_limited', message, error.retryAfterS);
  }

  /** The peer stopped reading: its backlog stayed over the cap for the grace period. */
  private onStalled(): void {
    this.deps.metrics.slowReaderCloses.inc();
    this.fail('slow_reader', 'The connection does not read its messages');
  }

  /** The backlog drained after messages were sent to the queue instead: deliver them now. */
  private onWritable(): void {
    if (this.state !== 'authenticated') return;
    const { router } = this.deps;
    router.resume(this.identity, this);
    for (const alias of this.aliases) router.resume(alias, this);
  }

  // --- Inbound -----------------------------------------------------------------------------

  // Frames are handled one at a time, in order. Most are handled synchronously (nothing to wait
  // for): no promise is made for them. A frame that waits for the store holds the later ones in
  // the backlog until it is done.
  private readonly onMessage = (data: unknown, isBinary: boolean): void => {
    const frame = data as Buffer;
    this.inboundBytes += frame.length;
    if (this.inboundBytes > this.deps.config.maxWsMessageBytes) this.ws.pause();
    if (this.handling) this.backlog.push({ data: frame, isBinary });
    else this.handleFrom(frame, isBinary);
  };

  /** Handles `frame`, then the backlog, until one of them has to wait. */
  private handleFrom(frame: Buffer, isBinary: boolean): void {
    for (;;) {
      const pending = this.handleOne(frame, isBinary);
      if (pending !== undefined) {
        this.handling = true;
        void pending.then(() => this.afterWait(frame));
        return;
      }
      this.handled(frame);
      const next = this.backlog.shift();
      if (next === undefined) return;
      frame = next.data;
      isBinary = next.isBinary;
    }
  }

  private afterWait(frame: Buffer): void {
    this.handling = false;
    this.handled(frame);
    const next = this.backlog.shift();
    if (next !== undefined) this.handleFrom(next.data, next.isBinary);
  }

  private handled(frame: Buffer): void {
    this.inboundBytes -= frame.length;
    if (this.ws.isPaused && this.inboundBytes <= this.deps.config.maxWsMessageBytes)
      this.ws.resume();
  }

  /** One frame; a promise (never rejected) when its handling has to wait. */
  private handleOne(data: Buffer, isBinary: boolean): Promise<void> | undefined {
    let pending;
    try {
      pending = this.onFrame(data, isBinary);
    } catch (err) {
      this.refuseOrLog(err);
      return undefined;
    }
    return pending?.catch((err: unknown) => this.refuseOrLog(err));
  }

  private refuseOrLog(err: unknown): void {
    try {
      this.refuse(err);
    } catch (unexpected) {
      this.deps.logger.error({ err: unexpected }, 'frame handling failed');
    }
  }

  /** Throws (or rejects with) a refusal; undefined when done at once. */
  private onFrame(data: Buffer, isBinary: boolean): Promise<void> | void {
    if (this.state === 'closing') return this.whileClosing(data, isBinary);
    if (this.state === 'closed') return;
    this.deps.limiter.takeLocal('ws_frames', this.ipKey);
    if (isBinary) {
      if (this.state !== 'authenticated') return this.fail('auth_required', 'Authenticate first');
      this.outbox.noteInboundReal();
      return this.deps.relay.binaryFrame(this, data);
    }
    const frame = parseFrame(data);
    const type = frame.type as string;
    if (DUMMY_TYPES.has(type)) return this.answerDummy(frame);
    this.outbox.noteInboundReal();
    if (this.state !== 'authenticated') {
      if (!PRE_AUTH_TYPES.has(type)) return this.fail('auth_required', 'Authenticate first');
      return this.authenticate(frame);
    }
    if (type === 'auth')
      throw new RelayError(400, 'already_authenticated', 'This socket is already authenticated');
    return this.deps.relay.jsonFrame(this, frame);
  }

  /** A closing socket still takes its client's acks (sent before the client saw the close):
   *  what it received is then not delivered again. Anything else is ignored. */
  private whileClosing(data: Buffer, isBinary: boolean): Promise<void> | void {
    if (isBinary || this.authedAs === undefined) return;
    this.deps.limiter.takeLocal('ws_frames', this.ipKey);
    const frame = parseJsonObject(data.toString('utf8'));
    if (frame?.type === 'ack') return this.deps.relay.jsonFrame(this, frame);
  }

  private answerDummy(frame: Json): void {
    if (frame.type === 'ping' && this.deps.config.compat === 'v1') {
      this.sendControl({ type: 'pong', timestamp: frame.timestamp ?? null }, false);
    } else {
      this.sendControl({ type: 'dummy_ack' }, false);
    }
  }

  private async authenticate(frame: Json): Promise<void> {
    const payload = frame.payload;
    if (payload === undefined) return; // v1 clients send an empty auth first
    const { auth, router, metrics } = this.deps;
    let result;
    try {
      result = await auth.authenticate(payload, this.ipKey);
    } catch (err) {
      const error = asRelayError(err);
      if (error.code === 'storage_unavailable') return this.fail(error.code, error.message);
      if (error.code === 'rate_limited')
        return this.fail(error.code, 'Too many authentication attempts', error.retryAfterS);
      return this.fail('auth_failed', error.message);
    }
    if (this.state !== 'open') return;
    clearTimeout(this.authTimer);
    this.authTimer = undefined;
    this.state = 'authenticated';
    this.authedAs = result.identity;
    this.acks = result.acks;
    this.authAt = Date.now();
    metrics.activeConnections.inc();
    try {
      // Subscribed before the client hears auth_success: from then on it gets messages live.
      // What arrives meanwhile is held until the queue has been drained, so nothing overtakes it.
      await router.register(result.identity, this);
    } catch (err) {
      // Without its subscription the session would miss messages: better to let the client retry.
      const error = asRelayError(err);
      return this.fail(error.code, error.message);
    }
    if (this.state !== 'authenticated') return; // replaced or closed meanwhile
    this.sendControl({
      type: 'auth_success',
      identity_hash: result.identity,
      session_token: result.token,
      keys_missing: result.keysMissing,
      prekeys: result.prekeys,
    });
    this.outbox.enablePacing();
    await router.drain(result.identity);
  }

  private async onClose(): Promise<void> {
    if (this.state === 'closed') return;
    const identity = this.authedAs;
    this.state = 'closed';
    clearTimeout(this.authTimer);
    const { router, metrics, logger } = this.deps;
    const unsent = this.outbox.close().flatMap((f) => (f.carries ? [f.carries as Carried] : []));
    try {
      if (identity !== undefined) {
        metrics.activeConnections.dec();
        await router.unregister(identity, this, this.closeReason);
        for (const alias of this.aliases) await router.unregister(alias, this, this.closeReason);
      }
    } catch (err) {
      logger.warn({ err }, 'session cleanup incomplete');
    }
    try {
      await router.undelivered(unsent, this.closeReason);
    } catch (err) {
      logger.error({ err }, 'could not requeue undelivered frames');
    } finally {
      this.deps.onClosed(this);
      this.resolveClosed();
    }
  }
}

/** A text frame as a JSON object with a string `type`; `invalid_message` otherwise. */
function parseFrame(data: Buffer): Json {
  const frame = parseJsonObject(data.toString('utf8'));
  if (frame === null || typeof frame.type !== 'string') {
    const message = `Frames must be JSON objects with a string type, nested at most ${MAX_JSON_DEPTH} deep`;
    throw new RelayError(400, 'invalid_message', message);
  }
  return frame;
}
