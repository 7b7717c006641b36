// The client side of the relay's WebSocket protocol (docs/protocol.md §4), on any platform:
// authenticates by PoW + signature and then by session token, reconnects with backoff, dedupes
// and acks deliveries, and matches each relay with its delivery_status.
import { RelayClientError } from '../errors.js';
import { concatBytes, isIdentityHash, randomBytes, toBase64, toHex, utf8 } from './bytes.js';
import type { PublicIdentity } from './bundle.js';
import { Emitter } from './emitter.js';
import type { PowProgress, PowSolveOptions, PowSolver } from './pow.js';
import type { RelayClientCore } from './rest.js';
import type { RelaySocket, SocketFactory } from './socket.js';

export interface CoreSessionOptions<I extends PublicIdentity> {
  /** Base URL of the relay, https://host:port (or http://); the socket goes to wss://host:port/ws. */
  url: string;
  identity: I;
  /** Ask the relay to keep queued messages until acked (default true). */
  acks?: boolean;
  /** Ack every msg / queued_message as it arrives (default true). */
  autoAck?: boolean;
  /** Reconnect with backoff when the connection drops unexpectedly (default true). */
  reconnect?: boolean;
  backoff?: { minMs: number; maxMs: number };
  /** Compat v1: authenticate by PoW alone, without public key and signature. */
  legacyPowOnly?: boolean;
  /** How long send(), sendBinary(), subscribeAlias(), ping() and dummy() wait (default 30 s). */
  timeoutMs?: number;
  /** Default: the platform's solver (worker threads / Web Workers). */
  powSolver?: PowSolver;
  /** Progress of each PoW search (attempts, elapsed), for a person who waits. */
  onPowProgress?: (progress: PowProgress) => void;
}

export interface SessionPlatform<I extends PublicIdentity, B extends Uint8Array> {
  rest: RelayClientCore<I, object & { url: string }>;
  openSocket: SocketFactory<B>;
  solvePow: PowSolver;
  sign(identity: I, message: Uint8Array): Uint8Array;
}

/** A JSON frame of the protocol: an object with a string `type`. */
export interface Frame {
  type: string;
  [field: string]: unknown;
}

export interface AuthSuccess extends Frame {
  type: 'auth_success';
  identity_hash: string;
  session_token: string;
  keys_missing: boolean;
  prekeys: number;
}

export interface DeliveryStatus extends Frame {
  type: 'delivery_status';
  id?: string;
  target: string;
  status: 'delivered' | 'queued' | 'rejected';
  reason?: string;
}

export interface RelayErrorFrame {
  code: string;
  message: string;
  retry_after?: number;
}

export interface MulticastTarget {
  to: string;
  body: unknown;
  msg_type?: string;
}

/** The session's events; `B` is the platform's bytes (Buffer in Node, Uint8Array in browsers). */
export interface SessionEvents<B extends Uint8Array> {
  message: [{ id: string; envelope: string }];
  queued: [{ id: string; payload: Frame }];
  sealed: [Frame];
  /** A binary frame as received: the payload followed by its zero padding. */
  binary: [B];
  status: [DeliveryStatus];
  frame: [Frame];
  /** An `error` frame of an authenticated session (not named 'error': nobody must listen). */
  relayError: [RelayErrorFrame];
  dummy: [{ type: 'dummy_pacing' | 'dummy_ack' | 'pong' }];
  close: [{ code: number; reason: string }];
  reconnecting: [{ attempt: number; delayMs: number; error?: Error }];
  authenticated: [AuthSuccess];
}

export type SessionState = 'closed' | 'connecting' | 'open' | 'reconnecting';

type Timer = ReturnType<typeof setTimeout>;

const SEEN_IDS_MAX = 10_000;
/** Errors after which reconnecting would only fight another session or a burned account. */
const FINAL_ERRORS = new Set(['session_replaced', 'account_burned']);
/** After the current batch of socket events: setImmediate in Node, a task in browsers. */
const defer: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => setImmediate(fn) : (fn) => setTimeout(fn, 0);

/** A request waiting for the relay's answer, failed after a timeout. */
class Pending<T> {
  settled = false;
  readonly promise: Promise<T>;
  private settle!: { resolve: (value: T) => void; reject: (err: Error) => void };
  private readonly timer: Timer;

  constructor(timeoutMs: number, what: string) {
    this.promise = new Promise<T>((resolve, reject) => (this.settle = { resolve, reject }));
    this.timer = setTimeout(
      () =>
        this.reject(new RelayClientError(0, 'timeout', `No answer to ${what} in ${timeoutMs} ms`)),
      timeoutMs,
    );
  }

  resolve(value: T): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.settle.resolve(value);
  }

  reject(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.settle.reject(err);
  }
}

/**
 * One identity's session with the relay, across reconnections. Attach listeners before
 * connect(): the offline queue is delivered right after `auth_success`.
 */
export class RelaySessionCore<
  I extends PublicIdentity,
  B extends Uint8Array,
  O extends CoreSessionOptions<I> = CoreSessionOptions<I>,
> extends Emitter<SessionEvents<B>> {
  readonly identity: I;
  /** Dummy frames received, for pacing checks. */
  readonly dummyCounts = { dummy_pacing: 0, dummy_ack: 0, pong: 0 };

  private readonly rest: RelayClientCore<I, object & { url: string }>;
  private readonly wsUrl: string;
  private readonly acks: boolean;
  private readonly autoAck: boolean;
  private readonly reconnect: boolean;
  private readonly backoff: { minMs: number; maxMs: number };
  private readonly timeoutMs: number;
  private readonly solve: PowSolver;

  /** The authenticated socket. */
  private ws: RelaySocket | null = null;
  /** A socket still authenticating. */
  private authSocket: RelaySocket | null = null;
  private connecting: Promise<AuthSuccess> | null = null;
  private abort: AbortController | null = null;
  private lastAuth: AuthSuccess | null = null;
  private sessionToken: string | null = null;
  private closedByUser = false;
  private stopped = false;
  private reconnectTimer: Timer | null = null;
  private reconnectAttempt = 0;

  private readonly seenIds = new Set<string>();
  private pendingAcks: string[] = [];
  /** By client id; a timed-out send stays until its late status arrives so that is not misread. */
  private readonly sends = new Map<string, Pending<DeliveryStatus>>();
  /** Binary frames carry no id: their statuses come back in order per target. */
  private readonly binarySends = new Map<string, Pending<DeliveryStatus>[]>();
  private aliasWaiters: { alias: string; pending: Pending<void> }[] = [];
  private pingWaiters: Pending<void>[] = [];

  constructor(
    readonly options: O,
    private readonly platform: SessionPlatform<I, B>,
  ) {
    super();
    this.identity = options.identity;
    this.rest = platform.rest;
    this.wsUrl = webSocketUrl(options.url);
    this.acks = options.acks ?? true;
    this.autoAck = options.autoAck ?? true;
    this.reconnect = options.reconnect ?? true;
    this.backoff = options.backoff ?? { minMs: 250, maxMs: 10_000 };
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.solve = options.powSolver ?? platform.solvePow;
  }

  get state(): SessionState {
    if (this.ws?.isOpen) return 'open';
    // A socket that is closing is not open: sends would fail at once.
    if (this.ws) return this.reconnect && !this.closedByUser ? 'reconnecting' : 'closed';
    if (this.reconnectTimer) return 'reconnecting';
    if (this.connecting) return 'connecting';
    return 'closed';
  }

  /** Opens and authenticates the socket; resolves with `auth_success`. */
  connect(): Promise<AuthSuccess> {
    if (this.ws && this.lastAuth) return Promise.resolve(this.lastAuth);
    this.closedByUser = false;
    this.stopped = false;
    this.clearReconnectTimer();
    this.connecting ??= this.authenticate().finally(() => (this.connecting = null));
    return this.connecting;
  }

  /** Closes with a close handshake and stops reconnecting. */
  async close(): Promise<void> {
    this.closedByUser = true;
    this.clearReconnectTimer();
    this.abort?.abort(closedError());
    this.authSocket?.terminate();
    const ws = this.ws;
    if (!ws || ws.isClosed) return;
    this.flushAcks(); // what was emitted must not come back at the next session
    const closed = ws.closed();
    ws.close(1000);
    await closed;
  }

  /** Relays `envelope` to `to`; resolves with the relay's delivery_status for it. */
  async send(
    to: string,
    envelope: string,
    opts: { id?: string; timeoutMs?: number } = {},
  ): Promise<DeliveryStatus> {
    const id = opts.id ?? toHex(randomBytes(16));
    if (id.length === 0 || id.length > 64)
      throw new RelayClientError(0, 'invalid_id', 'A relay id has 1 to 64 characters');
    if (this.sends.get(id)?.settled === false)
      throw new RelayClientError(0, 'duplicate_id', `A relay with id ${id} is still pending`);
    const ws = this.openSocket();
    const pending = new Pending<DeliveryStatus>(opts.timeoutMs ?? this.timeoutMs, `relay ${id}`);
    this.sends.set(id, pending);
    ws.send(JSON.stringify({ type: 'relay', to, envelope, id }), (err) => pending.reject(err));
    return pending.promise;
  }

  /**
   * Sends the binary frame `[to][payload]`; resolves with the next delivery_status for `to` that
   * answers no send() id. Binary frames carry no id, so a status for a sendTyped() or multicast()
   * to the same target, in flight at the same time, can be taken for it.
   */
  async sendBinary(to: string, payload: Uint8Array): Promise<DeliveryStatus> {
    if (!isIdentityHash(to))
      throw new RelayClientError(0, 'invalid_recipient', 'A binary frame needs a 64-hex recipient');
    const target = to.toLowerCase();
    const ws = this.openSocket();
    const pending = new Pending<DeliveryStatus>(this.timeoutMs, `binary frame to ${target}`);
    const queue = this.binarySends.get(target) ?? [];
    queue.push(pending);
    this.binarySends.set(target, queue);
    ws.send(concatBytes(utf8(target), payload), (err) => pending.reject(err));
    return pending.promise;
  }

  /** Live-only delivery (typing, presence): dropped by the relay when `to` is offline. */
  sendVolatile(to: string, body: string): void {
    this.sendFrame({ type: 'volatile_relay', to, body });
  }

  multicast(targets: MulticastTarget[]): void {
    this.sendFrame({ type: 'group_multicast', targets });
  }

  /** Any other relayed type (chat, msg_fragment, receipts…); the relay keeps only known fields. */
  sendTyped(type: string, to: string, fields: Record<string, unknown> = {}): void {
    this.sendFrame({ ...fields, type, to });
  }

  /** [v1] Receives messages sent to `alias` on this socket (PoW, context = alias). */
  async subscribeAlias(alias: string): Promise<void> {
    this.openSocket();
    const { seed, difficulty } = await this.rest.challenge();
    const nonce = await this.solve(seed, alias, difficulty, this.powOptions());
    const ws = this.openSocket();
    const pending = new Pending<void>(this.timeoutMs, `subscribe_alias ${alias}`);
    this.aliasWaiters.push({ alias, pending });
    ws.send(JSON.stringify({ type: 'subscribe_alias', payload: { alias, seed, nonce } }));
    return pending.promise;
  }

  /** Resolves on the relay's `dummy_ack` (or v1's `pong`). */
  ping(): Promise<void> {
    return this.expectDummyAck({ type: 'ping', timestamp: Date.now() });
  }

  dummy(): Promise<void> {
    return this.expectDummyAck({ type: 'dummy' });
  }

  /** Acks queued items by id (only needed with autoAck: false). */
  ack(ids: string[]): void {
    if (ids.length > 0) this.sendFrame({ type: 'ack', ids });
  }

  private powOptions(signal?: AbortSignal): PowSolveOptions {
    const opts: PowSolveOptions = {};
    if (signal) opts.signal = signal;
    if (this.options.onPowProgress) opts.onProgress = this.options.onPowProgress;
    return opts;
  }

  private async expectDummyAck(frame: Frame): Promise<void> {
    const ws = this.openSocket();
    const pending = new Pending<void>(this.timeoutMs, frame.type);
    this.pingWaiters.push(pending);
    ws.send(JSON.stringify(frame));
    return pending.promise;
  }

  private sendFrame(frame: Frame): void {
    this.openSocket().send(JSON.stringify(frame));
  }

  private openSocket(): RelaySocket {
    if (!this.ws?.isOpen)
      throw new RelayClientError(0, 'not_connected', 'The session is not authenticated');
    return this.ws;
  }

  private async authenticate(): Promise<AuthSuccess> {
    this.abort = new AbortController();
    const { signal } = this.abort;
    const h = this.identity.identityHash;
    if (this.sessionToken) {
      try {
        return await this.openAndAuth({ identity_hash: h, session_token: this.sessionToken });
      } catch (err) {
        if (!(err instanceof RelayClientError && err.code === 'auth_failed')) throw err;
        this.sessionToken = null; // expired or revoked: prove possession of the key again
      }
    }
    // Solve before opening the socket, so solving does not eat into the relay's auth timeout.
    const { seed, difficulty } = await this.rest.challenge({ type: 'auth', identity_hash: h });
    const nonce = await this.solve(seed, h, difficulty, this.powOptions(signal));
    const proof = this.options.legacyPowOnly
      ? {}
      : {
          public_key: toBase64(this.identity.publicKey),
          signature: toBase64(this.platform.sign(this.identity, utf8(`AUTH:${h}:${seed}`))),
        };
    return this.openAndAuth({ identity_hash: h, seed, nonce, ...proof });
  }

  private openAndAuth(auth: Record<string, unknown>): Promise<AuthSuccess> {
    return new Promise((resolve, reject) => {
      if (this.closedByUser) return reject(closedError());
      let authenticated = false;
      const ws: RelaySocket = this.platform.openSocket(this.wsUrl, {
        open: () =>
          ws.send(JSON.stringify({ type: 'auth', payload: { ...auth, acks: this.acks } })),
        message: (data, isBinary) => {
          if (authenticated) return this.onData(data, isBinary);
          const frame = isBinary ? null : parseFrame(data as string);
          if (frame?.type === 'auth_success') {
            authenticated = true;
            this.authSocket = null;
            this.ws = ws;
            this.lastAuth = frame as AuthSuccess;
            this.sessionToken = this.lastAuth.session_token;
            this.reconnectAttempt = 0;
            resolve(this.lastAuth);
            this.emit('authenticated', this.lastAuth);
          } else if (frame?.type === 'error') {
            const err = errorOf(frame);
            reject(new RelayClientError(0, err.code, err.message, err.retry_after));
            ws.close(1000);
          }
        },
        error: (err) => {
          if (!authenticated) reject(err); // 'close' follows
        },
        close: (code, reason) => {
          if (this.authSocket === ws) this.authSocket = null;
          if (authenticated) return this.onClosed(code, reason);
          reject(new RelayClientError(0, 'connection_closed', `Closed before auth (${code})`));
        },
      });
      this.authSocket = ws;
    });
  }

  private onData(data: string | B, isBinary: boolean): void {
    if (isBinary) {
      this.emit('binary', data as B);
      return;
    }
    const frame = parseFrame(data as string);
    if (!frame) return;
    switch (frame.type) {
      case 'msg':
        this.deliver(frame.id, () =>
          this.emit('message', { id: String(frame.id), envelope: String(frame.envelope) }),
        );
        break;
      case 'queued_message':
        this.deliver(frame.id, () =>
          this.emit('queued', { id: String(frame.id), payload: frame.payload as Frame }),
        );
        break;
      case 'sealed_message':
        this.emit('sealed', frame);
        break;
      case 'delivery_status':
        this.onStatus(frame as DeliveryStatus);
        break;
      case 'alias_subscribed': {
        const i = this.aliasWaiters.findIndex((w) => w.alias === frame.alias);
        if (i >= 0) this.aliasWaiters.splice(i, 1)[0]!.pending.resolve();
        break;
      }
      case 'dummy_pacing':
      case 'dummy_ack':
      case 'pong':
        this.dummyCounts[frame.type]++;
        if (frame.type !== 'dummy_pacing') this.pingWaiters.shift()?.resolve();
        this.emit('dummy', { type: frame.type });
        break;
      case 'error': {
        // A close may follow: acks go now, while the socket still takes them.
        this.flushAcks();
        const err = errorOf(frame);
        if (FINAL_ERRORS.has(err.code)) this.stopped = true;
        // The relay answers subscribe_alias with alias_subscribed or an error (e.g. the limit).
        this.aliasWaiters
          .shift()
          ?.pending.reject(new RelayClientError(0, err.code, err.message, err.retry_after));
        this.emit('relayError', err);
        break;
      }
      default:
        this.emit('frame', frame);
    }
  }

  /** Emits a delivery once per id in this session's lifetime; acks it every time. */
  private deliver(id: unknown, emit: () => void): void {
    if (typeof id !== 'string') return emit();
    if (this.acks && this.autoAck) this.queueAck(id);
    if (this.seenIds.has(id)) return;
    this.seenIds.add(id);
    if (this.seenIds.size > SEEN_IDS_MAX) this.seenIds.delete(this.seenIds.values().next().value!);
    emit();
  }

  private queueAck(id: string): void {
    if (this.pendingAcks.push(id) === 1) defer(() => this.flushAcks());
  }

  private flushAcks(): void {
    const ids = this.pendingAcks;
    this.pendingAcks = [];
    // On a dead socket the relay keeps the items and delivers them again at the next auth.
    if (this.ws?.isOpen) this.ack(ids);
  }

  private onStatus(status: DeliveryStatus): void {
    const byId = typeof status.id === 'string' ? this.sends.get(status.id) : undefined;
    if (byId) {
      this.sends.delete(status.id!);
      byId.resolve(status);
    } else {
      const target = String(status.target).toLowerCase();
      const queue = this.binarySends.get(target);
      queue?.shift()?.resolve(status);
      if (queue?.length === 0) this.binarySends.delete(target);
    }
    this.emit('status', status);
  }

  private onClosed(code: number, reason: string): void {
    this.ws = null;
    this.pendingAcks = [];
    this.failPending(new RelayClientError(0, 'connection_closed', `Connection closed (${code})`));
    this.emit('close', { code, reason });
    if (this.reconnect && !this.closedByUser && !this.stopped) this.scheduleReconnect();
  }

  private scheduleReconnect(error?: Error): void {
    const attempt = ++this.reconnectAttempt;
    const delayMs = backoffDelay(attempt, this.backoff);
    this.emit('reconnecting', { attempt, delayMs, error });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect().catch((err: Error) => {
        if (!this.closedByUser && !this.stopped) this.scheduleReconnect(err);
      });
    }, delayMs);
  }

  private clearReconnectTimer(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private failPending(err: Error): void {
    for (const pending of this.sends.values()) pending.reject(err);
    for (const queue of this.binarySends.values()) for (const pending of queue) pending.reject(err);
    for (const { pending } of this.aliasWaiters) pending.reject(err);
    for (const pending of this.pingWaiters) pending.reject(err);
    this.sends.clear();
    this.binarySends.clear();
    this.aliasWaiters = [];
    this.pingWaiters = [];
  }
}

/** https://host:port/base → wss://host:port/base/ws (http → ws). */
export function webSocketUrl(url: string): string {
  const u = new URL(url);
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    throw new TypeError(`Relay URL must be http(s)://, got ${url}`);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = u.pathname.replace(/\/+$/, '') + '/ws';
  return u.toString();
}

/** Exponential with jitter: uniform in [ceiling / 2, ceiling], ceiling = min·2^attempt ≤ max. */
export function backoffDelay(
  attempt: number,
  { minMs, maxMs }: { minMs: number; maxMs: number },
): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** attempt);
  return Math.max(minMs, Math.round(ceiling / 2 + (Math.random() * ceiling) / 2));
}

function parseFrame(text: string): Frame | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && typeof (value as Frame).type === 'string'
      ? (value as Frame)
      : null;
  } catch {
    return null;
  }
}

function errorOf(frame: Frame): RelayErrorFrame {
  const err: RelayErrorFrame = { code: String(frame.code), message: String(frame.message ?? '') };
  if (typeof frame.retry_after === 'number') err.retry_after = frame.retry_after;
  return err;
}

const closedError = (): RelayClientError =>
  new RelayClientError(0, 'closed', 'The session was closed');
