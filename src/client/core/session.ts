// The client side of the relay's WebSocket protocol (docs/protocol.md §4), on any platform:
// authenticates by PoW + signature and then by session token, reconnects with backoff, dedupes
// and acks deliveries, and matches each relay with its delivery_status.
// Its parts: session-types.ts (options, events), frames.ts, pending.ts (requests waiting for an
// answer), deliveries.ts (dedupe and acks), reconnect.ts (backoff) and relay-url.ts.
import { RelayClientError } from '../errors.js';
import { concatBytes, isIdentityHash, randomBytes, toBase64, toHex, utf8 } from './bytes.js';
import type { PublicIdentity } from './bundle.js';
import { Deliveries } from './deliveries.js';
import { Emitter } from './emitter.js';
import {
  errorOf,
  parseFrame,
  type AuthSuccess,
  type DeliveryStatus,
  type Frame,
  type MulticastTarget,
  type RelayErrorFrame,
} from './frames.js';
import { PendingReplies } from './pending.js';
import type { PowSolveOptions, PowSolver } from './pow.js';
import { Reconnects } from './reconnect.js';
import { webSocketUrl } from './relay-url.js';
import type { RelayClientCore } from './rest.js';
import type {
  CoreSessionOptions,
  SessionEvents,
  SessionPlatform,
  SessionState,
} from './session-types.js';
import type { RelaySocket } from './socket.js';

// What this module exported before its parts moved out.
export type { AuthSuccess, DeliveryStatus, Frame, MulticastTarget, RelayErrorFrame };
export type { CoreSessionOptions, SessionEvents, SessionPlatform, SessionState };
export { backoffDelay } from './reconnect.js';
export { webSocketUrl } from './relay-url.js';

/** Errors after which reconnecting would only fight another session or a burned account. */
const FINAL_ERRORS = new Set(['session_replaced', 'account_burned']);

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
  private readonly reconnect: boolean;
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

  private readonly reconnects: Reconnects;
  private readonly deliveries: Deliveries;
  private readonly replies = new PendingReplies();

  constructor(
    readonly options: O,
    private readonly platform: SessionPlatform<I, B>,
  ) {
    super();
    this.identity = options.identity;
    this.rest = platform.rest;
    this.wsUrl = webSocketUrl(options.url);
    this.acks = options.acks ?? true;
    // On a dead socket the relay keeps the items and delivers them again at the next auth.
    this.deliveries = new Deliveries(this.acks && (options.autoAck ?? true), (ids) => {
      if (this.ws?.isOpen) this.ack(ids);
    });
    this.reconnect = options.reconnect ?? true;
    this.reconnects = new Reconnects(options.backoff ?? { minMs: 250, maxMs: 10_000 });
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.solve = options.powSolver ?? platform.solvePow;
  }

  get state(): SessionState {
    if (this.ws?.isOpen) return 'open';
    // A socket that is closing is not open: sends would fail at once.
    if (this.ws) return this.reconnect && !this.closedByUser ? 'reconnecting' : 'closed';
    if (this.reconnects.scheduled) return 'reconnecting';
    if (this.connecting) return 'connecting';
    return 'closed';
  }

  /** Opens and authenticates the socket; resolves with `auth_success`. */
  connect(): Promise<AuthSuccess> {
    if (this.ws && this.lastAuth) return Promise.resolve(this.lastAuth);
    this.closedByUser = false;
    this.stopped = false;
    this.reconnects.cancel();
    this.connecting ??= this.authenticate().finally(() => (this.connecting = null));
    return this.connecting;
  }

  /** Closes with a close handshake and stops reconnecting. */
  async close(): Promise<void> {
    this.closedByUser = true;
    this.reconnects.cancel();
    this.abort?.abort(closedError());
    this.authSocket?.terminate();
    const ws = this.ws;
    if (!ws || ws.isClosed) return;
    this.deliveries.flushAcks(); // what was emitted must not come back at the next session
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
    if (this.replies.isRelayPending(id))
      throw new RelayClientError(0, 'duplicate_id', `A relay with id ${id} is still pending`);
    const ws = this.openSocket();
    const pending = this.replies.relay(id, opts.timeoutMs ?? this.timeoutMs);
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
    const pending = this.replies.binary(target, this.timeoutMs);
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
    const pending = this.replies.subscribeAlias(alias, this.timeoutMs);
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
    const pending = this.replies.dummyAck(frame.type, this.timeoutMs);
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
            this.reconnects.reset();
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
        this.deliveries.deliver(frame.id, () =>
          this.emit('message', { id: String(frame.id), envelope: String(frame.envelope) }),
        );
        break;
      case 'queued_message':
        this.deliveries.deliver(frame.id, () =>
          this.emit('queued', { id: String(frame.id), payload: frame.payload as Frame }),
        );
        break;
      case 'sealed_message':
        this.emit('sealed', frame);
        break;
      case 'delivery_status':
        this.replies.onStatus(frame as DeliveryStatus);
        this.emit('status', frame as DeliveryStatus);
        break;
      case 'alias_subscribed':
        this.replies.onAliasSubscribed(frame.alias);
        break;
      case 'dummy_pacing':
      case 'dummy_ack':
      case 'pong':
        this.dummyCounts[frame.type]++;
        if (frame.type !== 'dummy_pacing') this.replies.onDummyAck();
        this.emit('dummy', { type: frame.type });
        break;
      case 'error': {
        // A close may follow: acks go now, while the socket still takes them.
        this.deliveries.flushAcks();
        const err = errorOf(frame);
        if (FINAL_ERRORS.has(err.code)) this.stopped = true;
        this.replies.onRelayError(err);
        this.emit('relayError', err);
        break;
      }
      default:
        this.emit('frame', frame);
    }
  }

  private onClosed(code: number, reason: string): void {
    this.ws = null;
    this.deliveries.dropAcks();
    this.replies.failAll(
      new RelayClientError(0, 'connection_closed', `Connection closed (${code})`),
    );
    this.emit('close', { code, reason });
    if (this.reconnect && !this.closedByUser && !this.stopped) this.scheduleReconnect();
  }

  private scheduleReconnect(error?: Error): void {
    const { attempt, delayMs } = this.reconnects.next();
    this.emit('reconnecting', { attempt, delayMs, error });
    this.reconnects.schedule(delayMs, () =>
      this.connect().catch((err: Error) => {
        if (!this.closedByUser && !this.stopped) this.scheduleReconnect(err);
      }),
    );
  }
}

const closedError = (): RelayClientError =>
  new RelayClientError(0, 'closed', 'The session was closed');
