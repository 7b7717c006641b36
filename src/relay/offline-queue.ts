// The offline queue (docs/protocol.md §4.5): messages for recipients that are not connected (or
// whose socket is full) wait in the store, in order, each with its own TTL; a session drains its
// queue oldest first, and an item leaves the queue on ack or once written (v1 clients). Nothing
// accepted is dropped: every refusal reaches the sender as a `rejected` status.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { DAY_MS } from '../time.js';
import type { EnqueueResult, QueueLimits, Store } from '../store/store.js';
import { queuedDelivery, type Delivery, type RejectReason } from './deliveries.js';
import type { Carried, Endpoint, Notify } from './endpoint.js';
import { UNACKED_MAX_COUNT, type LocalEntry, type Registry } from './registry.js';

/** A failed drain is tried again after this long, doubling up to the maximum. */
const DRAIN_RETRY_MIN_MS = 500;
const DRAIN_RETRY_MAX_MS = 30_000;

/** The sender's `rejected` reason for each refusal of the store. */
const REFUSALS: Record<Exclude<EnqueueResult, 'queued'>, RejectReason> = {
  no_recipient: 'invalid_recipient',
  mailbox_full: 'mailbox_full',
  storage_full: 'storage_full',
};

export class OfflineQueue {
  /** For a message queued from the start. */
  private readonly limits: QueueLimits;
  /** For a message accepted for a live session and handed back (socket closed or full). */
  private readonly requeueLimits: QueueLimits;
  /** For a message written to a session that ended before its client acked it: its sender
   *  heard `delivered`, so it may take the mailbox past its caps by one session's ledger. */
  private readonly unackedLimits: QueueLimits;
  /** A session's ledger of written, unacked messages is full at this many bytes. */
  private readonly unackedMaxBytes: number;

  constructor(
    private readonly store: Store,
    private readonly registry: Registry,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    config: Config,
    /** Tells whichever session holds `address` (maybe on another instance) to drain again. */
    private readonly announce: (address: string) => Promise<void>,
  ) {
    this.limits = {
      maxCount: config.queueMax,
      maxBytes: config.queueMaxBytes,
      ttlMs: config.messageTtlDays * DAY_MS,
      // Compat mode queues for legacy names and aliases too (which never have a bundle).
      requireBundle: config.compat !== 'v1',
    };
    // Addressed to a proven key holder (live delivery needs no bundle): queued without one.
    this.requeueLimits = { ...this.limits, requireBundle: false };
    this.unackedMaxBytes = config.maxSocketBufferBytes;
    // A ledger holds at most UNACKED_MAX_COUNT messages, and its byte bound plus one message.
    this.unackedLimits = {
      ...this.requeueLimits,
      maxCount: config.queueMax + UNACKED_MAX_COUNT,
      maxBytes: config.queueMaxBytes + config.maxSocketBufferBytes + config.maxWsMessageBytes,
    };
  }

  /**
   * Writes a new message to `recipient`'s queue. `charge` bills the sender for the bytes first
   * (a reason: refused). True when queued; otherwise the sender has been told.
   */
  async put(
    recipient: string,
    id: string,
    offline: string,
    notify: Notify | undefined,
    charge?: (bytes: number) => RejectReason | undefined,
  ): Promise<boolean> {
    const refusal = charge?.(Buffer.byteLength(offline));
    if (refusal !== undefined) {
      this.metrics.messages.inc({ outcome: 'rejected' });
      notify?.('rejected', refusal);
      return false;
    }
    const outcome = await this.store.enqueue(recipient, { id, payload: offline }, this.limits);
    if (outcome === 'queued') return true;
    this.refused(outcome, notify);
    return false;
  }

  /** Puts a message that was not written back in the queue (if it is not there yet) and tells its
   *  sender; true when it was written to the queue now. */
  async requeue(carried: Carried): Promise<boolean> {
    if (carried.inQueue) {
      carried.notify?.('queued');
      return false;
    }
    const unacked = carried.kept === true;
    try {
      const item = { id: carried.id, payload: carried.offline() };
      const limits = unacked ? this.unackedLimits : this.requeueLimits;
      const outcome = await this.store.enqueue(carried.recipient, item, limits);
      if (outcome !== 'queued') {
        if (unacked) this.lostUnacked(outcome);
        else this.refused(outcome, carried.notify);
        return false;
      }
      if (unacked) this.metrics.unackedRequeued.inc();
      else this.metrics.messages.inc({ outcome: 'queued' });
      carried.notify?.('queued');
      return true;
    } catch (err) {
      if (unacked) this.lostUnacked('storage_unavailable', err);
      else this.logger.error({ err }, 'could not requeue an undelivered message');
      carried.notify?.('rejected', 'storage_unavailable');
      return false;
    }
  }

  /** A message its sender heard `delivered` of could not go back to the queue. A full mailbox
   *  (a client that acks nothing, for long) is only counted. */
  private lostUnacked(why: string, err?: unknown): void {
    this.metrics.unackedLost.inc();
    if (why !== 'mailbox_full')
      this.logger.error({ err, why }, 'a written message never acked could not be requeued');
  }

  /**
   * Hands a delivery to the session of `entry`. A queued message it was already handed is only
   * confirmed; one it refuses (its socket is full) goes to the queue, in arrival order, and
   * reaches it when it resumes (or on its next connection). Refused volatile frames are dropped.
   */
  hand(entry: LocalEntry, delivery: Delivery, carried?: Carried): boolean {
    if (carried && entry.wasHanded(carried.id)) {
      carried.notify?.('delivered');
      return true;
    }
    if (entry.endpoint.push(delivery, carried)) {
      // Only queued items can come back (a drain racing a notification): remember those.
      if (carried?.inQueue) entry.remember(carried.id);
      return true;
    }
    if (carried) this.spill(entry, carried);
    return false;
  }

  private spill(entry: LocalEntry, carried: Carried): void {
    this.metrics.socketSpills.inc();
    entry.spilling = (entry.spilling ?? Promise.resolve()).then(async () => {
      const queuedNow = await this.requeue(carried);
      // Another session took the address meanwhile (maybe elsewhere): it must hear of it.
      if (queuedNow && this.registry.get(carried.recipient) !== entry)
        await this.announce(carried.recipient);
    });
  }

  /**
   * Sends the queue of `address` to its session, oldest first, then what arrived meanwhile.
   * `first`: the session's own first drain (after it told its client it is authenticated) or a
   * resume; other callers (notifications, retries) never start a first drain, so nothing reaches
   * a client before its `auth_success`.
   */
  async drain(address: string, first = false): Promise<void> {
    const entry = this.registry.get(address);
    if (!entry) return;
    if (entry.awaitingDrain && !first) return;
    if (entry.draining && !entry.awaitingDrain) {
      entry.redrain = true;
      return;
    }
    entry.awaitingDrain = false;
    entry.draining = true;
    let failed = false;
    try {
      drain: do {
        entry.redrain = false;
        const items = await this.store.queued(address);
        if (this.registry.get(address) !== entry) return;
        for (const item of items) {
          if (entry.wasHanded(item.id)) continue;
          const carried = {
            recipient: address,
            id: item.id,
            offline: () => item.payload,
            inQueue: true,
          };
          // The session is full: the rest waits in the queue until it resumes.
          if (!this.hand(entry, queuedDelivery(item.id, item.payload), carried)) break drain;
          this.metrics.queueDrained.inc();
        }
      } while (entry.redrain);
      entry.drainRetryMs = 0;
    } catch (err) {
      this.logger.warn({ err }, 'queue drain failed; it is retried shortly');
      failed = true;
    } finally {
      entry.draining = false;
      const held = entry.held;
      entry.held = [];
      for (const { delivery, carried } of held) this.hand(entry, delivery, carried);
    }
    // The store failed (an outage, a failover): nothing else may ask again while the session
    // lasts, so this session's queue is drained again, backing off up to DRAIN_RETRY_MAX_MS.
    if (failed) this.retryDrain(address, entry);
  }

  private retryDrain(address: string, entry: LocalEntry): void {
    if (entry.drainRetryPending) return; // one retry at a time per session
    entry.drainRetryPending = true;
    entry.drainRetryMs = Math.min(
      DRAIN_RETRY_MAX_MS,
      Math.max(DRAIN_RETRY_MIN_MS, 2 * entry.drainRetryMs),
    );
    setTimeout(() => {
      entry.drainRetryPending = false;
      if (this.registry.get(address) === entry) void this.drain(address);
    }, entry.drainRetryMs).unref();
  }

  /** The session of `address` can take deliveries again after refusing some. */
  resume(address: string, endpoint: Endpoint): void {
    const entry = this.registry.get(address);
    if (entry?.endpoint !== endpoint) return;
    // Its first drain has not run yet: that one sends everything.
    if (entry.awaitingDrain) return;
    // Arrivals from now on wait (held) until the drain has sent what was refused: none overtakes.
    if (!entry.draining) {
      entry.draining = true;
      entry.awaitingDrain = true;
    }
    // Refused messages still being written to the queue go first, so the drain sees them.
    void (entry.spilling ?? Promise.resolve()).then(() => this.drain(address, true));
  }

  /** A carried message was written: it leaves the queue unless the client will ack it; a live
   *  one the client will ack is kept in the session's ledger until it does. */
  written(endpoint: Endpoint, carried: Carried): void {
    if (!carried.inQueue) {
      if (carried.ackable && endpoint.acks) this.keepUntilAcked(endpoint, carried);
      return;
    }
    if (!(carried.live || !endpoint.acks)) return;
    this.store.removeQueued(carried.recipient, [carried.id]).catch((err: unknown) => {
      this.logger.warn(
        { err },
        'could not remove a delivered message from the queue; it may be delivered again',
      );
    });
  }

  private keepUntilAcked(endpoint: Endpoint, carried: Carried): void {
    const entry = this.registry.get(carried.recipient);
    if (entry?.endpoint === endpoint) {
      // Past the ledger's bound its oldest messages go to the queue (delivered again at the
      // next authentication, same ids), so a client that never acks live messages still gets
      // every new one live.
      const evicted = entry.keepUntilAcked(carried, this.unackedMaxBytes);
      if (evicted.length > 0) void this.requeueAll(evicted);
      return;
    }
    // The session let go of the address meanwhile: the client may never have read it.
    void this.requeue({ ...carried, kept: true, notify: undefined }).then((queuedNow) => {
      if (queuedNow) return this.announce(carried.recipient);
    });
  }

  private async requeueAll(kept: Carried[]): Promise<void> {
    for (const carried of kept) await this.requeue(carried);
  }

  /** Removes acknowledged messages: from the session's ledger, the rest from its queue;
   *  returns how many. */
  async ack(address: string, ids: string[]): Promise<number> {
    const entry = this.registry.get(address);
    const rest = entry ? entry.acked(ids) : ids;
    const fromLedger = ids.length - rest.length;
    if (rest.length === 0) return fromLedger;
    return fromLedger + (await this.store.removeQueued(address, rest));
  }

  /** True when only the queue can reach `recipient` (no session here) and a message for it
   *  needs a key bundle (default mode). */
  requiresBundle(recipient: string): boolean {
    return this.limits.requireBundle && !this.registry.has(recipient);
  }

  /** Counts a message refused for one of the queue's reasons (also when found before routing). */
  countRefused(outcome: Exclude<EnqueueResult, 'queued'>): void {
    this.metrics.messages.inc({ outcome: 'rejected' });
    this.metrics.queueRefused.inc({ reason: REFUSALS[outcome] });
  }

  private refused(outcome: Exclude<EnqueueResult, 'queued'>, notify?: Notify): void {
    this.countRefused(outcome);
    notify?.('rejected', REFUSALS[outcome]);
  }
}
