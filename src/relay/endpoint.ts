// What the relay domain needs from a live session (implemented by the WebSocket transport), and
// the bookkeeping a message carries while it rides in a session's outbox.
import type { CloseReason } from './channel.js';
import type { Delivery, DeliveryStatus, RejectReason } from './deliveries.js';

/** A message for the router to deliver (Router.send). */
export interface OutboundMessage {
  id: string;
  delivery: Delivery;
  /** Live only (volatile_relay): never queued, dropped when the recipient is not connected. */
  volatile?: boolean;
  /** Charges the sender for the bytes this message makes the store hold; the reason when
   *  refused, undefined when charged. */
  chargeQueued?: (bytes: number) => RejectReason | undefined;
  /** Admits an offered message (see Router.offersTo) that has to be queued after all: the
   *  recipient's bucket and key bundle. False when refused (the sender has been told). */
  admitQueued?: () => boolean | Promise<boolean>;
}

/** Receives the sender's delivery status of one message. */
export type Notify = (status: DeliveryStatus, reason?: RejectReason) => void;

/** A message handed to a session's outbox, so it can be recovered if it is never written. */
export interface Carried {
  recipient: string;
  /** The message id (stable across live and queued delivery). */
  id: string;
  /** Its offline-queue form, made only when it has to be queued. */
  offline: () => string;
  /** Already in the recipient's offline queue (remote delivery or queue drain). */
  inQueue: boolean;
  /** Delivered live (not as queued_message): leaves the queue once written, acks or not. */
  live?: boolean;
  /** A `msg` frame the client acks by `id`: once written (and not in the queue) it is kept in
   *  its session's ledger until acked, and requeued if the session ends first. */
  ackable?: boolean;
  /** What keeping it costs, in bytes (the ledger's bound). */
  bytes?: number;
  /** Written and kept until acked: its sender heard `delivered` already. */
  kept?: boolean;
  notify?: Notify;
}

/** A live authenticated session, as the router sees it. */
export interface Endpoint {
  readonly sessionId: string;
  readonly authAt: number;
  readonly acks: boolean;
  /**
   * Hands a delivery to the session's outbox; `carried` comes back through Router.written() or
   * Router.undelivered(). False when the session cannot take it now (its socket is over its byte
   * cap): the message then waits in the offline queue until the session calls Router.resume().
   */
  push(delivery: Delivery, carried?: Carried): boolean;
  closeWith(reason: CloseReason): void;
}
