// Sending to a recipient with no session on this instance (docs/protocol.md §4.4). Publish first:
// the message is offered on the recipient's channel `msg:{H}`; the instance holding its session
// writes it (or queues it, if the session cannot take it) and reports the status back on this
// instance's own channel; nobody listening means the offline queue. Every offer is kept until
// answered and queued here if no answer comes (StatusWaits), so a lost offer or a dead receiver
// never loses a message; past the bound on waiting offers, messages are queued first and then
// announced on the channel.
import { rethrowUnlessUnavailable } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/store.js';
import { encodeChannelMessage, publishOn, type ChannelMessage } from './channel.js';
import { offlineForm } from './deliveries.js';
import type { Notify, OutboundMessage } from './endpoint.js';
import type { OfflineQueue } from './offline-queue.js';
import { StatusWaits, type ReplyTo, type Waiting } from './status-waits.js';

export class RemoteSender {
  private readonly waits: StatusWaits;

  /**
   * @param instanceId this instance's channel (where statuses come back)
   * @param acrossInstances offer first (other instances may hold sessions); else queue first
   */
  constructor(
    instanceId: string,
    private readonly store: Store,
    private readonly queue: OfflineQueue,
    private readonly metrics: Metrics,
    private readonly acrossInstances: boolean,
  ) {
    this.waits = new StatusWaits(instanceId, (waiting) => this.unanswered(waiting));
  }

  /** A status another instance sent back (a `status` message on this instance's channel). */
  onStatus(message: Extract<ChannelMessage, { kind: 'status' }>): void {
    this.waits.settle(message.correlation, message.status, message.reason);
  }

  /** Answers every sender still waiting for another instance: a queued message is `queued`; an
   *  offered one is queued now (it may also have been delivered: the same id, once more). */
  settlePending(): Promise<void> {
    return this.waits.expireAll();
  }

  /** A recipient with no session here: offered to the instance that holds its session; if none
   *  does, the offline queue, then a notification. */
  async send(recipient: string, message: OutboundMessage, notify?: Notify): Promise<void> {
    if (message.volatile) {
      await this.publish(recipient, { kind: 'volatile', delivery: message.delivery });
      return;
    }
    if (this.acrossInstances && (await this.offer(recipient, message, notify))) return;
    await this.sendQueued(recipient, message, notify);
  }

  /** Admits a message that has to be queued (if it still needs admitting) and writes it to the
   *  queue; true when queued, otherwise its sender has been told. */
  private async enqueue(
    recipient: string,
    message: OutboundMessage,
    notify: Notify | undefined,
  ): Promise<boolean> {
    if (message.admitQueued && !(await message.admitQueued())) return false;
    const offline = offlineForm(message.delivery);
    return this.queue.put(recipient, message.id, offline, notify, message.chargeQueued);
  }

  /**
   * Publish first (docs/protocol.md §4.4): the message goes on the recipient's channel; the
   * instance holding its session writes it and answers with the status (or queues it if it cannot).
   * True when some instance received it; false when nobody did (or too many offers wait already):
   * the caller queues it. An offer left unanswered is queued after STATUS_TIMEOUT_MS.
   */
  private async offer(
    recipient: string,
    message: OutboundMessage,
    notify: Notify | undefined,
  ): Promise<boolean> {
    if (this.waits.full) return false;
    const replyTo = this.waits.replyTo();
    const { id, delivery } = message;
    const raw = encodeChannelMessage({ kind: 'offer', id, delivery, replyTo });
    if (!this.waits.hasRoomFor(raw.length)) return false;
    this.waits.wait(replyTo, { notify, offer: { recipient, message, bytes: raw.length } });
    // A failed publish may still have reached someone: queued all the same (the same id, twice
    // at worst).
    const receivers = await this.store.publish(recipient, raw).catch(() => 0);
    if (receivers > 0) return true;
    this.waits.take(replyTo.correlation);
    return false;
  }

  /** Nobody answered in time: an offer is queued now, a queued message is `queued`. */
  private async unanswered({ notify, offer }: Waiting): Promise<void> {
    if (!offer) return notify?.('queued');
    const { recipient, message } = offer;
    const { id, delivery } = message;
    try {
      if (!(await this.enqueue(recipient, message, notify))) return;
    } catch (err) {
      rethrowUnlessUnavailable(err);
      return notify?.('rejected', 'storage_unavailable');
    }
    this.metrics.messages.inc({ outcome: 'queued' });
    notify?.('queued');
    // Whoever holds the session now hears of it (it may have written it already: the same id).
    await this.publish(recipient, { kind: 'deliver', id, delivery }).catch(() => 0);
  }

  /** Queue first: the offline queue, then a notification to whichever instance holds the
   *  session (a lost notification never loses the message). */
  private async sendQueued(
    recipient: string,
    message: OutboundMessage,
    notify?: Notify,
  ): Promise<void> {
    if (!(await this.enqueue(recipient, message, notify))) return;
    const { id, delivery } = message;
    const note: ChannelMessage = { kind: 'deliver', id, delivery };
    let replyTo: ReplyTo | undefined;
    if (notify) {
      note.replyTo = replyTo = this.waits.replyTo();
      this.waits.wait(replyTo, { notify });
    }
    // The message is queued already: a failed notification only means nobody hears of it now.
    const receivers = await this.publish(recipient, note).catch(() => 0);
    if (receivers === 0) {
      this.metrics.messages.inc({ outcome: 'queued' });
      if (replyTo) this.waits.settle(replyTo.correlation, 'queued');
    }
  }

  private publish(address: string, message: ChannelMessage): Promise<number> {
    return publishOn(this.store, address, message);
  }
}
