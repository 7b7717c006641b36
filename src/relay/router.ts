// Routing (PROTOCOL.md §4.4, §4.5, SPECS §9): local sessions get frames directly; a recipient
// elsewhere gets the message written to its offline queue first, then a notification on its
// channel `msg:{H}` (write-then-notify: a lost notification never loses the message). The
// instance holding the session delivers it and removes it from the queue; a session that
// (re)connects drains its queue. Sessions are replaced and closed across instances through the
// same channel.
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { StoreUnavailableError } from '../errors.js';
import type { EnqueueResult, QueuedItem, QueueLimits, Store } from '../store/store.js';
import { DAY_MS } from '../time.js';

export type DeliveryStatus = 'delivered' | 'queued' | 'rejected';
export type Notify = (status: DeliveryStatus, reason?: string) => void;
export type CloseReason = 'session_replaced' | 'account_burned' | 'server_shutdown';

/** A frame for a recipient: a JSON object (padded when written) or a binary payload. */
export type LiveFrame =
  { kind: 'json'; value: Record<string, unknown> } | { kind: 'binary'; data: Buffer };

/** A message riding in a session's outbox, so it can be recovered if it is never written. */
export interface Carried {
  recipient: string;
  /** The message id (stable across live and queued delivery). */
  id: string;
  /** Its offline-queue form, made only when it has to be queued. */
  payload: () => string;
  /** Already in the recipient's offline queue (remote delivery or queue drain). */
  inQueue: boolean;
  /** Delivered live (not as queued_message): leaves the queue once written, acks or not. */
  live?: boolean;
  notify?: Notify;
}

/** A live authenticated session, as the router sees it (implemented by the WebSocket layer). */
export interface Endpoint {
  readonly sessionId: string;
  readonly authAt: number;
  readonly acks: boolean;
  /**
   * Hands a frame to the session's outbox; `carried` comes back through written()/undelivered().
   * False when the session cannot take it now (its socket is over its byte cap): the router then
   * keeps the message in the offline queue until the session calls resume().
   */
  push(frame: LiveFrame, carried?: Carried): boolean;
  /** True when a message with this id was already handed to this session. */
  hasSent(id: string): boolean;
  closeWith(reason: CloseReason): void;
}

export interface OutboundMessage {
  id: string;
  frame: LiveFrame;
  /** Makes what goes to the offline queue (JSON text); null for live-only (volatile) frames. */
  queued: (() => string) | null;
  /** Charges the sender for the bytes this message makes the store hold; false: refused. */
  chargeQueued?: (bytes: number) => boolean;
}

interface LocalEntry {
  endpoint: Endpoint;
  draining: boolean;
  redrain: boolean;
  /** Registered, first drain not started: arrivals are held so they cannot overtake the queue. */
  awaitingDrain: boolean;
  /** Messages that arrived during a drain: delivered after it, to keep the order. */
  held: Array<{ frame: LiveFrame; carried?: Carried }>;
  /** Messages the session refused, being written to the queue in order (see spill()). */
  spilling: Promise<void> | undefined;
}

type WireFrame = { t: 'j'; v: Record<string, unknown> } | { t: 'b'; d: string };
type ChannelMessage =
  | { k: 'm'; id: string; f: WireFrame; r?: { i: string; c: string } }
  | { k: 'v'; f: WireFrame }
  | { k: 'q' }
  | { k: 'r'; sid: string; at: number }
  | { k: 'c'; code: CloseReason }
  | { k: 's'; c: string; s: DeliveryStatus; why?: string };

const STATUS_TIMEOUT_MS = 10_000;
const SUBSCRIBE_RETRY_MS = 500;

/** The sender's `rejected` reason for each refusal of the offline queue. */
const REFUSALS: Record<Exclude<EnqueueResult, 'queued'>, string> = {
  no_recipient: 'invalid_recipient',
  mailbox_full: 'mailbox_full',
  storage_full: 'storage_full',
};

const toWire = (frame: LiveFrame): WireFrame =>
  frame.kind === 'json' ? { t: 'j', v: frame.value } : { t: 'b', d: frame.data.toString('base64') };
const fromWire = (wire: WireFrame): LiveFrame =>
  wire.t === 'j'
    ? { kind: 'json', value: wire.v }
    : { kind: 'binary', data: Buffer.from(wire.d, 'base64') };

export function newMessageId(): string {
  return randomUUID();
}

export class Router {
  /** This instance's own channel (a random 64-hex address no identity can have). */
  readonly instanceId = randomBytes(32).toString('hex');
  private readonly local = new Map<string, LocalEntry>();
  private readonly pending = new Map<string, { notify: Notify; timer: NodeJS.Timeout }>();
  private readonly subscriptions = new Map<string, Promise<void>>();
  private readonly limits: QueueLimits;
  private readonly requeueLimits: QueueLimits;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    config: Config,
  ) {
    this.limits = {
      maxCount: config.queueMax,
      maxBytes: config.queueMaxBytes,
      ttlMs: config.messageTtlDays * DAY_MS,
      // Compat mode queues for legacy names and aliases too (which never have a bundle).
      requireBundle: config.compat !== 'v1',
    };
    // A message accepted for a live session and not written is queued even without a bundle:
    // it was addressed to a proven key holder (live delivery needs no bundle).
    this.requeueLimits = { ...this.limits, requireBundle: false };
  }

  /** Subscribes this instance's channel once the store is ready (the store resubscribes it
   *  after outages); resolves then. */
  async start(): Promise<void> {
    // Messages queued while our subscriptions were down were announced to nobody: drain.
    this.store.onResubscribed?.(() => {
      for (const address of this.local.keys()) void this.drain(address);
    });
    await this.store.ready();
    while (!this.stopped) {
      try {
        await this.store.subscribe(this.instanceId, (raw) => this.onInstanceMessage(raw));
        return;
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) throw err;
        await sleep(SUBSCRIBE_RETRY_MS, undefined, { ref: false });
      }
    }
  }

  /** Answers every sender still waiting for another instance: their messages are queued. */
  settlePending(): void {
    for (const { notify, timer } of this.pending.values()) {
      clearTimeout(timer);
      notify('queued');
    }
    this.pending.clear();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.settlePending();
    await this.store.unsubscribe(this.instanceId).catch(() => undefined);
  }

  /** Makes `endpoint` the one live session of `address` here and on every other instance.
   *  With `replace: false` (v1 aliases) it never takes an address another session holds: false. */
  async register(
    address: string,
    endpoint: Endpoint,
    options = { replace: true },
  ): Promise<boolean> {
    const previous = this.local.get(address);
    // An alias never takes over an address another session holds.
    if (!options.replace && previous && previous.endpoint !== endpoint) return false;
    this.local.set(address, {
      endpoint,
      draining: true,
      redrain: false,
      awaitingDrain: true,
      held: [],
      spilling: undefined,
    });
    await this.subscribe(address);
    if (!options.replace) return true;
    if (previous && previous.endpoint !== endpoint) previous.endpoint.closeWith('session_replaced');
    await this.publish(address, { k: 'r', sid: endpoint.sessionId, at: endpoint.authAt });
    return true;
  }

  async unregister(address: string, endpoint: Endpoint): Promise<void> {
    if (this.local.get(address)?.endpoint !== endpoint) return;
    this.local.delete(address);
    await this.unsubscribe(address);
  }

  /** Sends the queue of `address` to its session, oldest first, then what arrived meanwhile. */
  async drain(address: string): Promise<void> {
    const entry = this.local.get(address);
    if (!entry) return;
    if (entry.draining && !entry.awaitingDrain) {
      entry.redrain = true;
      return;
    }
    entry.awaitingDrain = false;
    entry.draining = true;
    try {
      drain: do {
        entry.redrain = false;
        const items = await this.store.queued(address);
        if (this.local.get(address) !== entry) return;
        for (const item of items) {
          if (entry.endpoint.hasSent(item.id)) continue;
          const frame: LiveFrame = {
            kind: 'json',
            value: {
              type: 'queued_message',
              id: item.id,
              payload: JSON.parse(item.payload) as unknown,
            },
          };
          const carried = {
            recipient: address,
            id: item.id,
            payload: () => item.payload,
            inQueue: true,
          };
          // The session is full: the rest waits in the queue until it resumes.
          if (!entry.endpoint.push(frame, carried)) break drain;
          this.metrics.queueDrained.inc();
        }
      } while (entry.redrain);
    } catch (err) {
      this.logger.warn(
        { err },
        'queue drain failed; it is retried at the next notification or auth',
      );
    } finally {
      entry.draining = false;
      const held = entry.held;
      entry.held = [];
      for (const { frame, carried } of held) this.pushTo(entry, frame, carried);
    }
  }

  /** The session of `address` can take frames again after refusing some: deliver the queue. */
  resume(address: string, endpoint: Endpoint): void {
    const entry = this.local.get(address);
    if (entry?.endpoint !== endpoint) return;
    // Refused messages still being written to the queue go first, so the drain sees them.
    void (entry.spilling ?? Promise.resolve()).then(() => this.drain(address));
  }

  /** Routes a message to `recipient`; `notify` receives the sender's delivery status. */
  async send(recipient: string, message: OutboundMessage, notify?: Notify): Promise<void> {
    const entry = this.local.get(recipient);
    if (entry) {
      const carried =
        message.queued === null
          ? undefined
          : { recipient, id: message.id, payload: message.queued, inQueue: false, notify };
      if (entry.draining) entry.held.push({ frame: message.frame, carried });
      else this.pushTo(entry, message.frame, carried);
      return;
    }
    if (message.queued === null) {
      await this.publish(recipient, { k: 'v', f: toWire(message.frame) });
      return;
    }
    const item: QueuedItem = { id: message.id, payload: message.queued() };
    if (message.chargeQueued && !message.chargeQueued(Buffer.byteLength(item.payload))) {
      this.metrics.messages.inc({ outcome: 'rejected' });
      notify?.('rejected', 'rate_limited');
      return;
    }
    const outcome = await this.store.enqueue(recipient, item, this.limits);
    if (outcome !== 'queued') return this.refused(outcome, notify);
    const corr = notify ? randomUUID() : undefined;
    const note: ChannelMessage = { k: 'm', id: message.id, f: toWire(message.frame) };
    if (corr) note.r = { i: this.instanceId, c: corr };
    if (corr && notify) {
      const timer = setTimeout(() => this.settle(corr, 'queued'), STATUS_TIMEOUT_MS);
      this.pending.set(corr, { notify, timer });
    }
    // The message is queued already: a failed notification only means nobody hears of it now.
    const receivers = await this.publish(recipient, note).catch(() => 0);
    if (receivers === 0) {
      this.metrics.messages.inc({ outcome: 'queued' });
      if (corr) this.settle(corr, 'queued');
    }
  }

  /** A carried frame was written to its socket. */
  written(endpoint: Endpoint, carried: Carried): void {
    if (carried.inQueue && (carried.live || !endpoint.acks)) {
      this.removeQueued(carried.recipient, [carried.id]);
    }
    this.metrics.messages.inc({ outcome: 'delivered' });
    carried.notify?.('delivered');
  }

  /** Frames a closed session never wrote: back to the offline queue, nothing lost. */
  async undelivered(frames: Carried[], reason?: CloseReason): Promise<void> {
    const touched = new Set<string>();
    for (const carried of frames) {
      if (reason === 'account_burned') {
        carried.notify?.('rejected', 'invalid_recipient');
        continue;
      }
      if (await this.requeue(carried)) touched.add(carried.recipient);
    }
    // A session that reconnected elsewhere meanwhile re-drains its queue.
    for (const recipient of touched) await this.publish(recipient, { k: 'q' }).catch(() => 0);
  }

  /** Puts a message that was not written back in the offline queue (if it is not there yet)
   *  and tells its sender; true when it was written to the queue now. */
  private async requeue(carried: Carried): Promise<boolean> {
    if (carried.inQueue) {
      carried.notify?.('queued');
      return false;
    }
    try {
      const item = { id: carried.id, payload: carried.payload() };
      const outcome = await this.store.enqueue(carried.recipient, item, this.requeueLimits);
      if (outcome !== 'queued') {
        this.refused(outcome, carried.notify);
        return false;
      }
      this.metrics.messages.inc({ outcome: 'queued' });
      carried.notify?.('queued');
      return true;
    } catch (err) {
      this.logger.error({ err }, 'could not requeue an undelivered message');
      carried.notify?.('rejected', 'storage_unavailable');
      return false;
    }
  }

  /**
   * The session refused a message (its socket is over its byte cap): it goes to the offline
   * queue, in arrival order, and reaches the session when it resumes (or on its next connection).
   */
  private spill(entry: LocalEntry, carried: Carried): void {
    this.metrics.socketSpills.inc();
    entry.spilling = (entry.spilling ?? Promise.resolve()).then(async () => {
      const queuedNow = await this.requeue(carried);
      // Another session took the address meanwhile (maybe elsewhere): it must hear of it.
      if (queuedNow && this.local.get(carried.recipient) !== entry)
        await this.publish(carried.recipient, { k: 'q' }).catch(() => 0);
    });
  }

  /** Removes acknowledged items from a session's queue. */
  async ack(address: string, ids: string[]): Promise<number> {
    return this.store.removeQueued(address, ids);
  }

  /** Closes the sessions of `address` on every instance. */
  async closeEverywhere(address: string, reason: CloseReason): Promise<void> {
    this.local.get(address)?.endpoint.closeWith(reason);
    await this.publish(address, { k: 'c', code: reason }).catch(() => 0);
  }

  private refused(outcome: Exclude<EnqueueResult, 'queued'>, notify?: Notify): void {
    const reason = REFUSALS[outcome];
    this.metrics.messages.inc({ outcome: 'rejected' });
    this.metrics.queueRefused.inc({ reason });
    notify?.('rejected', reason);
  }

  private pushTo(entry: LocalEntry, frame: LiveFrame, carried?: Carried): void {
    if (carried && entry.endpoint.hasSent(carried.id)) {
      carried.notify?.('delivered');
      return;
    }
    // Refused: volatile frames are dropped, messages wait in the queue.
    if (!entry.endpoint.push(frame, carried) && carried) this.spill(entry, carried);
  }

  private removeQueued(address: string, ids: string[]): void {
    this.store.removeQueued(address, ids).catch((err: unknown) => {
      this.logger.warn(
        { err },
        'could not remove a delivered message from the queue; it may be delivered again',
      );
    });
  }

  private settle(corr: string, status: DeliveryStatus, reason?: string): void {
    const pending = this.pending.get(corr);
    if (!pending) return;
    this.pending.delete(corr);
    clearTimeout(pending.timer);
    pending.notify(status, reason);
  }

  private publish(address: string, message: ChannelMessage): Promise<number> {
    return this.store.publish(address, JSON.stringify(message));
  }

  /** Subscriptions per address are serialised so a quick unregister/register never races. */
  private subscribe(address: string): Promise<void> {
    return this.chain(address, async () => {
      if (this.local.has(address))
        await this.store.subscribe(address, (raw) => this.onChannel(address, raw));
    });
  }

  private unsubscribe(address: string): Promise<void> {
    return this.chain(address, async () => {
      if (!this.local.has(address)) await this.store.unsubscribe(address);
    });
  }

  private chain(address: string, step: () => Promise<void>): Promise<void> {
    const next = (this.subscriptions.get(address) ?? Promise.resolve()).then(step, step);
    const settled = next.catch(() => undefined);
    this.subscriptions.set(address, settled);
    void settled.then(() => {
      if (this.subscriptions.get(address) === settled) this.subscriptions.delete(address);
    });
    return next;
  }

  private onChannel(address: string, raw: string): void {
    let message: ChannelMessage;
    try {
      message = JSON.parse(raw) as ChannelMessage;
    } catch {
      return;
    }
    const entry = this.local.get(address);
    switch (message.k) {
      case 'm': {
        const reply = message.r;
        const notify: Notify | undefined = reply
          ? (status, why) =>
              void this.publish(reply.i, { k: 's', c: reply.c, s: status, why }).catch(() => 0)
          : undefined;
        if (!entry) {
          notify?.('queued');
          return;
        }
        // Already in the queue: the live write removes it (or the client's ack does).
        const carried: Carried = {
          recipient: address,
          id: message.id,
          payload: () => '',
          inQueue: true,
          live: true,
          notify,
        };
        const frame = fromWire(message.f);
        if (entry.draining) entry.held.push({ frame, carried });
        else this.pushTo(entry, frame, carried);
        return;
      }
      case 'v':
        if (entry && !entry.draining) entry.endpoint.push(fromWire(message.f));
        return;
      case 'q':
        if (entry) void this.drain(address);
        return;
      case 'r':
        // The newer session wins (auth time, then session id as a tie-break).
        if (entry && entry.endpoint.sessionId !== message.sid) {
          const mine = entry.endpoint;
          if (
            mine.authAt < message.at ||
            (mine.authAt === message.at && mine.sessionId < message.sid)
          ) {
            mine.closeWith('session_replaced');
          }
        }
        return;
      case 'c':
        entry?.endpoint.closeWith(message.code);
        return;
      default:
        return;
    }
  }

  private onInstanceMessage(raw: string): void {
    try {
      const message = JSON.parse(raw) as ChannelMessage;
      if (message.k === 's') this.settle(message.c, message.s, message.why);
    } catch {
      // Not ours: ignore.
    }
  }
}
