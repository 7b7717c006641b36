// Senders waiting for another instance's `delivery_status` (docs/protocol.md §4.4). A message
// offered on a recipient's channel, or queued and announced there, is answered by the instance
// holding the recipient's session on this instance's own channel, naming the correlation id it was
// sent with. Until then the sender waits here; an offer also keeps its message, so that if no
// answer comes within STATUS_TIMEOUT_MS (or the relay stops) it can be queued by the sender's
// instance and nothing is lost. Waiting offers are bounded in count and bytes.
import { randomUUID } from 'node:crypto';
import type { DeliveryStatus, RejectReason } from './deliveries.js';
import type { Notify, OutboundMessage } from './endpoint.js';

/** How long a sender waits for another instance's status: then an offered message is queued,
 *  and the sender of a queued one hears `queued`. */
export const STATUS_TIMEOUT_MS = 10_000;
/** Offers waiting for an answer, at most (count and encoded bytes): beyond, messages take the
 *  queue-first path, which holds nothing while it waits. */
export const MAX_OFFERS = 10_000;
export const MAX_OFFER_BYTES = 64 * 1024 * 1024;

/** An offered message, kept until answered. */
export interface Offer {
  recipient: string;
  message: OutboundMessage;
  /** Its encoded size on the channel (the bound). */
  bytes: number;
}

/** A sender waiting for a status. */
export interface Waiting {
  notify: Notify | undefined;
  offer?: Offer;
}

/** Where another instance sends the status: this instance's channel and the correlation id. */
export interface ReplyTo {
  instance: string;
  correlation: string;
}

interface Entry extends Waiting {
  timer: NodeJS.Timeout;
}

export class StatusWaits {
  private readonly entries = new Map<string, Entry>();
  private offerBytes = 0;

  /**
   * @param instance this instance's channel (where answers arrive)
   * @param onUnanswered called with a wait nobody answered in time (or still waiting at
   *   expireAll): the caller queues its offer, or tells its sender `queued`
   */
  constructor(
    private readonly instance: string,
    private readonly onUnanswered: (waiting: Waiting) => Promise<void>,
  ) {}

  /** No room for another offer, whatever its size. */
  get full(): boolean {
    return this.entries.size >= MAX_OFFERS;
  }

  /** Room for an offer of `bytes` encoded bytes. */
  hasRoomFor(bytes: number): boolean {
    return !this.full && this.offerBytes + bytes <= MAX_OFFER_BYTES;
  }

  /** A correlation id for a message about to be published with it (see wait()). */
  replyTo(): ReplyTo {
    return { instance: this.instance, correlation: randomUUID() };
  }

  /** The sender of `reply.correlation` waits for its status from now on. */
  wait(reply: ReplyTo, waiting: Waiting): void {
    const { correlation } = reply;
    const timer = setTimeout(() => void this.expire(correlation), STATUS_TIMEOUT_MS);
    this.entries.set(correlation, { ...waiting, timer });
    if (waiting.offer) this.offerBytes += waiting.offer.bytes;
  }

  /** Stops waiting for `correlation` and returns what waited (undefined if nothing did). */
  take(correlation: string): Waiting | undefined {
    const entry = this.entries.get(correlation);
    if (!entry) return undefined;
    this.entries.delete(correlation);
    clearTimeout(entry.timer);
    if (entry.offer) this.offerBytes -= entry.offer.bytes;
    return { notify: entry.notify, offer: entry.offer };
  }

  /** The status for `correlation` arrived (or was decided here): its sender hears it. */
  settle(correlation: string, status: DeliveryStatus, reason?: RejectReason): void {
    this.take(correlation)?.notify?.(status, reason);
  }

  /** Gives up waiting for every sender still waiting (relay shutdown). */
  async expireAll(): Promise<void> {
    await Promise.all([...this.entries.keys()].map((correlation) => this.expire(correlation)));
  }

  private async expire(correlation: string): Promise<void> {
    const waiting = this.take(correlation);
    if (waiting) await this.onUnanswered(waiting);
  }
}
