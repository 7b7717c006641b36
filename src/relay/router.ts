// Routing (docs/protocol.md §4.4): a recipient with a session here gets the delivery
// directly; a recipient elsewhere is reached through its channel `msg:{H}` (remote-sender.ts:
// offered first, queued otherwise). This module holds this instance's sessions (registry.ts),
// subscribes their channels and answers what arrives there: offers and announcements of queued
// messages for its sessions, and sessions replaced or closed on other instances.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.js';
import { rethrowUnlessUnavailable } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/store.js';
import {
  decodeChannelMessage,
  publishOn,
  type ChannelMessage,
  type CloseReason,
} from './channel.js';
import { ackCost, offlineForm, type Delivery, type RejectReason } from './deliveries.js';
import type { Carried, Endpoint, Notify, OutboundMessage } from './endpoint.js';
import { OfflineQueue } from './offline-queue.js';
import { Registry } from './registry.js';
import { RemoteSender } from './remote-sender.js';
import type { ReplyTo } from './status-waits.js';

export type { OutboundMessage };
export { MAX_OFFERS } from './status-waits.js';

export interface RouterOptions {
  /** Other instances may hold sessions: a message for a recipient with no session here is
   *  offered on its channel first. Default: unless the store is the in-process memory store. */
  acrossInstances?: boolean;
  /** Takes the recipient's receive token for a message another instance offers here (the
   *  recipient's session is here, so is its bucket); the reason when refused. */
  admitOffered?: (address: string) => RejectReason | undefined;
}

const SUBSCRIBE_RETRY_MS = 500;

export class Router {
  /** This instance's own channel (a random 64-hex address no identity can have). */
  readonly instanceId = randomBytes(32).toString('hex');
  private readonly registry = new Registry();
  private readonly queue: OfflineQueue;
  private readonly remote: RemoteSender;
  private readonly subscriptions = new Map<string, Promise<void>>();
  private stopped = false;

  private readonly acrossInstances: boolean;
  private readonly admitOffered: ((address: string) => RejectReason | undefined) | undefined;

  constructor(
    private readonly store: Store,
    private readonly metrics: Metrics,
    logger: Logger,
    config: Config,
    options: RouterOptions = {},
  ) {
    this.acrossInstances = options.acrossInstances ?? store.kind !== 'memory';
    this.admitOffered = options.admitOffered;
    this.queue = new OfflineQueue(store, this.registry, metrics, logger, config, (address) =>
      this.publish(address, { kind: 'queue_changed' }).then(
        () => undefined,
        () => undefined,
      ),
    );
    this.remote = new RemoteSender(
      this.instanceId,
      store,
      this.queue,
      metrics,
      this.acrossInstances,
    );
  }

  /** Subscribes this instance's channel once the store is ready (the store resubscribes it
   *  after outages); resolves then. */
  async start(): Promise<void> {
    // Messages queued while our subscriptions were down were announced to nobody: drain.
    this.store.onResubscribed?.(() => {
      for (const address of this.registry.addresses()) void this.queue.drain(address);
    });
    await this.store.ready();
    while (!this.stopped) {
      try {
        await this.store.subscribe(this.instanceId, (raw) => this.onInstanceMessage(raw));
        return;
      } catch (err) {
        rethrowUnlessUnavailable(err);
        await sleep(SUBSCRIBE_RETRY_MS, undefined, { ref: false });
      }
    }
  }

  /** Answers every sender still waiting for another instance: a queued message is `queued`; an
   *  offered one is queued now (it may also have been delivered: the same id, once more). */
  settlePending(): Promise<void> {
    return this.remote.settlePending();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.settlePending();
    await this.store.unsubscribe(this.instanceId).catch(() => undefined);
  }

  /** Makes `endpoint` the one live session of `address` here and on every other instance.
   *  With `replace: false` (v1 aliases) it never takes an address another session holds: false. */
  async register(
    address: string,
    endpoint: Endpoint,
    options = { replace: true },
  ): Promise<boolean> {
    const previous = this.registry.claim(address, endpoint, options.replace);
    if (previous === null) return false;
    await this.subscribe(address);
    if (!options.replace) return true;
    if (previous) {
      previous.endpoint.closeWith('session_replaced');
      // What the replaced session was written and did not ack goes back to the queue: the new
      // session's first drain, or the announcement that follows the requeue, delivers it (an
      // ack still arriving from the old one removes it).
      void this.undelivered(previous.takeUnacked());
    }
    const opened = { sessionId: endpoint.sessionId, authAt: endpoint.authAt };
    await this.publish(address, { kind: 'session_opened', ...opened });
    return true;
  }

  /** Forgets the session of `address`; `reason`: why it was closed from here, if it was. */
  async unregister(address: string, endpoint: Endpoint, reason?: CloseReason): Promise<void> {
    const entry = this.registry.release(address, endpoint);
    if (!entry) return;
    // What it was written and never acked, then arrivals still held for it (its first drain
    // had not run): back to the queue, in that order; for a burned identity, nothing.
    const back = [...entry.takeUnacked(), ...entry.takeHeld()];
    await Promise.all([this.unsubscribe(address), this.undelivered(back, reason)]);
  }

  /** Sends the queue of `address` to its session, oldest first. */
  drain(address: string): Promise<void> {
    return this.queue.drain(address, true);
  }

  /** The session of `address` can take deliveries again after refusing some: drain its queue. */
  resume(address: string, endpoint: Endpoint): void {
    this.queue.resume(address, endpoint);
  }

  /** True when only the offline queue can reach `recipient` and a message for it needs a key
   *  bundle (default mode, no session here). */
  requiresBundle(recipient: string): boolean {
    return this.queue.requiresBundle(recipient);
  }

  /** Counts a message refused because its recipient has no bundle (found before routing). */
  countNoRecipient(): void {
    this.queue.countRefused('no_recipient');
  }

  /** True when `address` has a session here. */
  isLocal(address: string): boolean {
    return this.registry.has(address);
  }

  /** True when a message for `recipient` will be offered to other instances first: admitting
   *  it (the recipient's bucket) is then left to the instance holding its session, or to
   *  OutboundMessage.admitQueued if it has to be queued. */
  offersTo(recipient: string): boolean {
    return this.acrossInstances && !this.registry.has(recipient);
  }

  /** Routes a message to `recipient`; `notify` receives the sender's delivery status.
   *  Synchronous (no promise) when the recipient has a session here. */
  send(recipient: string, message: OutboundMessage, notify?: Notify): void | Promise<void> {
    const entry = this.registry.get(recipient);
    if (entry === undefined) return this.remote.send(recipient, message, notify);
    const { id, delivery } = message;
    const carried = message.volatile ? undefined : liveCarried(recipient, id, delivery, notify);
    if (entry.draining) entry.held.push({ delivery, carried });
    else this.queue.hand(entry, delivery, carried);
  }

  /** A carried message was written to its session's socket. */
  written(endpoint: Endpoint, carried: Carried): void {
    this.queue.written(endpoint, carried);
    this.metrics.messages.inc({ outcome: 'delivered' });
    carried.notify?.('delivered');
  }

  /** Messages a closed session never wrote: back to the offline queue, nothing lost. */
  async undelivered(frames: Carried[], reason?: CloseReason): Promise<void> {
    const touched = new Set<string>();
    for (const carried of frames) {
      // Re-queueing for a burned identity would resurrect it.
      if (reason === 'account_burned') carried.notify?.('rejected', 'invalid_recipient');
      else if (await this.queue.requeue(carried)) touched.add(carried.recipient);
    }
    // A session that reconnected elsewhere meanwhile re-drains its queue.
    for (const recipient of touched)
      await this.publish(recipient, { kind: 'queue_changed' }).catch(() => 0);
  }

  /** Removes acknowledged items from a session's queue. */
  ack(address: string, ids: string[]): Promise<number> {
    return this.queue.ack(address, ids);
  }

  /** Closes the sessions of `address` on every instance. */
  async closeEverywhere(address: string, reason: CloseReason): Promise<void> {
    this.closeLocal(address, reason);
    await this.publish(address, { kind: 'close', reason }).catch(() => 0);
  }

  private closeLocal(address: string, reason: CloseReason): void {
    const entry = this.registry.get(address);
    if (!entry) return;
    // Held arrivals and the ledger would be requeued when the session unregisters: not for a
    // burned identity.
    if (reason === 'account_burned') {
      void this.undelivered(entry.takeHeld(), reason);
      entry.takeUnacked();
    }
    entry.endpoint.closeWith(reason);
  }

  private publish(address: string, message: ChannelMessage): Promise<number> {
    return publishOn(this.store, address, message);
  }

  /** Subscriptions per address are serialised so a quick unregister/register never races. */
  private subscribe(address: string): Promise<void> {
    return this.chain(address, async () => {
      if (this.registry.has(address))
        await this.store.subscribe(address, (raw) => this.onChannel(address, raw));
    });
  }

  private unsubscribe(address: string): Promise<void> {
    return this.chain(address, async () => {
      if (!this.registry.has(address)) await this.store.unsubscribe(address);
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
    const message = decodeChannelMessage(raw);
    const entry = this.registry.get(address);
    switch (message?.kind) {
      case 'offer': {
        // Not queued anywhere yet: written here, kept until acked (a `msg` to a client with
        // acks), or queued here when the session cannot take it or is gone.
        const { id, delivery } = message;
        const notify = this.replier(message.replyTo)!;
        const refusal = entry ? this.admitOffered?.(address) : undefined;
        if (refusal !== undefined) {
          this.metrics.messages.inc({ outcome: 'rejected' });
          return notify('rejected', refusal);
        }
        const carried = liveCarried(address, id, delivery, notify);
        if (!entry) void this.undelivered([carried]);
        else if (entry.draining) entry.held.push({ delivery, carried });
        else this.queue.hand(entry, delivery, carried);
        return;
      }
      case 'deliver': {
        const notify = this.replier(message.replyTo);
        if (!entry) return notify?.('queued');
        // Already in the queue. A `msg` stays there until the client acks its id (written is
        // not received: a socket dying right after the write must not lose it); frames the
        // client cannot ack by that id leave it once written.
        const carried: Carried = {
          recipient: address,
          id: message.id,
          offline: () => '',
          inQueue: true,
          live: ackCost(message.delivery, message.id) === undefined,
          notify,
        };
        if (entry.draining) entry.held.push({ delivery: message.delivery, carried });
        else this.queue.hand(entry, message.delivery, carried);
        return;
      }
      case 'volatile':
        if (entry && !entry.draining) entry.endpoint.push(message.delivery);
        return;
      case 'queue_changed':
        if (entry) void this.queue.drain(address);
        return;
      case 'session_opened': {
        // The newer session wins (auth time, then session id as a tie-break).
        if (!entry || entry.endpoint.sessionId === message.sessionId) return;
        const mine = entry.endpoint;
        const older =
          mine.authAt < message.authAt ||
          (mine.authAt === message.authAt && mine.sessionId < message.sessionId);
        if (!older) return;
        // Its unacked messages go back to the queue now, not when its socket has closed, so
        // they reach the newer session soon after the messages its first drain sent.
        void this.undelivered(entry.takeUnacked());
        mine.closeWith('session_replaced');
        return;
      }
      case 'close':
        this.closeLocal(address, message.reason);
        return;
    }
  }

  /** Sends a status back to the instance waiting for it. */
  private replier(reply: ReplyTo | undefined): Notify | undefined {
    if (!reply) return undefined;
    return (status, reason) => {
      const answer: ChannelMessage = { kind: 'status', correlation: reply.correlation, status };
      if (reason !== undefined) answer.reason = reason;
      void this.publish(reply.instance, answer).catch(() => 0);
    };
  }

  private onInstanceMessage(raw: string): void {
    const message = decodeChannelMessage(raw);
    if (message?.kind === 'status') this.remote.onStatus(message);
  }
}

/** A message handed to a session here, in no queue: kept in its ledger once written if it is a
 *  `msg` its client acks by id (and that client has acks on). */
function liveCarried(
  recipient: string,
  id: string,
  delivery: Delivery,
  notify: Notify | undefined,
): Carried {
  const bytes = ackCost(delivery, id);
  const offline = () => offlineForm(delivery);
  return { recipient, id, offline, inQueue: false, ackable: bytes !== undefined, bytes, notify };
}
