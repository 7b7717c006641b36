// The wire shape of everything the relay delivers to a client (docs/protocol.md §4.3, §4.5): `msg`,
// `sealed_message`, typed relays, binary payloads, `queued_message`, `delivery_status` and
// `alias_subscribed`. This module is the only place those objects are built.
import { randomUUID } from 'node:crypto';
import type { Json } from '../json.js';

/** What a recipient's socket gets: a JSON frame (padded when written) or a binary payload. */
export type Delivery = { kind: 'json'; value: Json } | { kind: 'binary'; data: Buffer };

export type DeliveryStatus = 'delivered' | 'queued' | 'rejected';

/** Why a message was rejected (`delivery_status.reason`). */
export type RejectReason =
  | 'invalid_recipient'
  | 'too_large'
  | 'rate_limited'
  | 'mailbox_full'
  | 'storage_full'
  | 'storage_unavailable';

/** Fields a typed relay keeps; anything else (a sender, say) is dropped. */
const RELAYED_FIELDS = [
  'fragmentId',
  'index',
  'total',
  'data',
  'bundle',
  'body',
  'content',
  'id',
  'pow',
] as const;

/** Frame types only the server sends: a client cannot relay a look-alike. */
export const SERVER_FRAME_TYPES: ReadonlySet<string> = new Set([
  'msg',
  'queued_message',
  'delivery_status',
  'sealed_message',
  'error',
  'auth_success',
  'alias_subscribed',
  'dummy_pacing',
  'dummy_ack',
  'pong',
  'binary_payload',
]);

/** A server message id: stable across live and queued delivery. */
export function newMessageId(): string {
  return randomUUID();
}

/** `relay` → `{"type":"msg","id","envelope"}` (never a sender). */
export function messageDelivery(id: string, envelope: string): Delivery {
  return { kind: 'json', value: { type: 'msg', id, envelope } };
}

/** A binary frame's payload, or a `volatile_relay` body, delivered as a binary frame. */
export function binaryDelivery(payload: Buffer): Delivery {
  return { kind: 'binary', data: payload };
}

/** One `group_multicast` target → `{"type":"sealed_message","body","msg_type"?,"id"}`. */
export function sealedDelivery(id: string, body: unknown, msgType: unknown): Delivery {
  const value: Json = { type: 'sealed_message', body };
  if (msgType !== undefined) value.msg_type = msgType;
  value.id = id;
  return { kind: 'json', value };
}

/** Any other typed frame with a `to`: its type and the relayed fields only. */
export function typedDelivery(frame: Json): Delivery {
  const value: Json = { type: frame.type };
  for (const field of RELAYED_FIELDS) if (frame[field] !== undefined) value[field] = frame[field];
  return { kind: 'json', value };
}

/** A `msg` frame's fields around its envelope, in bytes (id, type, quotes). */
const MSG_FRAME_OVERHEAD = 96;

/**
 * What keeping a delivery until its client acks it costs, in bytes: for a `msg` frame carrying
 * `id` (what a client acks, docs/protocol.md §4.5); undefined for anything a client does not ack
 * by id.
 */
export function ackCost(delivery: Delivery, id: string): number | undefined {
  if (delivery.kind !== 'json') return undefined;
  const frame = delivery.value as { type?: unknown; id?: unknown; envelope?: unknown } | null;
  if (frame?.type !== 'msg' || frame.id !== id) return undefined;
  const envelope = typeof frame.envelope === 'string' ? Buffer.byteLength(frame.envelope) : 0;
  return MSG_FRAME_OVERHEAD + envelope;
}

/** What the offline queue keeps of a delivery: the JSON text of the frame, binary payloads as
 *  `{"type":"binary_payload","data_hex"}`. */
export function offlineForm(delivery: Delivery): string {
  return delivery.kind === 'json'
    ? JSON.stringify(delivery.value)
    : JSON.stringify({ type: 'binary_payload', data_hex: delivery.data.toString('hex') });
}

/** An offline queue item, delivered: `{"type":"queued_message","id","payload":<the frame>}`. */
export function queuedDelivery(id: string, offline: string): Delivery {
  return {
    kind: 'json',
    value: { type: 'queued_message', id, payload: JSON.parse(offline) as unknown },
  };
}

/** The sender's `delivery_status` for one message. */
export function statusFrame(
  id: unknown,
  target: string,
  status: DeliveryStatus,
  reason?: RejectReason,
  retryAfterS?: number,
): Json {
  const frame: Json = { type: 'delivery_status', id: id ?? null, target, status };
  if (reason !== undefined) frame.reason = reason;
  if (retryAfterS !== undefined) frame.retry_after = retryAfterS;
  return frame;
}

/** `subscribe_alias` succeeded (compat v1). */
export function aliasSubscribedFrame(alias: string): Json {
  return { type: 'alias_subscribed', alias };
}
