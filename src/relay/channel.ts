// What relay instances tell each other (docs/protocol.md §4.4): messages on an address's channel
// `msg:{H}` and on each instance's own channel, encoded here and nowhere else. Every message is
// a JSON object with a `kind` and named fields; binary payloads travel as base64.
import type { Store } from '../store/store.js';
import type { Delivery, DeliveryStatus, RejectReason } from './deliveries.js';

/** Why a session is closed from elsewhere. */
export type CloseReason = 'session_replaced' | 'account_burned' | 'server_shutdown';

export type ChannelMessage =
  /** A message in no queue yet, for the session holding the address: the instance holding it
   *  writes it (or queues it) and answers with the status. */
  | {
      kind: 'offer';
      id: string;
      delivery: Delivery;
      replyTo: { instance: string; correlation: string };
    }
  /** A message already written to the address's offline queue, for the session holding it. */
  | {
      kind: 'deliver';
      id: string;
      delivery: Delivery;
      /** Where the sender's instance waits for the delivery status. */
      replyTo?: { instance: string; correlation: string };
    }
  /** A live-only frame (volatile_relay): written if the session is here, else dropped. */
  | { kind: 'volatile'; delivery: Delivery }
  /** The address's offline queue changed: the session holding it drains it. */
  | { kind: 'queue_changed' }
  /** A session authenticated for the address: the older one closes (one session per identity). */
  | { kind: 'session_opened'; sessionId: string; authAt: number }
  | { kind: 'close'; reason: CloseReason }
  /** On an instance's own channel: the status of a message it sent to another instance. */
  | { kind: 'status'; correlation: string; status: DeliveryStatus; reason?: RejectReason };

type WireDelivery = { json: Record<string, unknown> } | { binary: string };

const toWire = (d: Delivery): WireDelivery =>
  d.kind === 'json' ? { json: d.value } : { binary: d.data.toString('base64') };

const fromWire = (w: WireDelivery): Delivery =>
  'json' in w
    ? { kind: 'json', value: w.json }
    : { kind: 'binary', data: Buffer.from(w.binary, 'base64') };

/** Publishes `message` on the channel of `address` (an identity or an instance); resolves with
 *  how many subscribers received it. */
export function publishOn(store: Store, address: string, message: ChannelMessage): Promise<number> {
  return store.publish(address, encodeChannelMessage(message));
}

export function encodeChannelMessage(message: ChannelMessage): string {
  if (message.kind === 'deliver' || message.kind === 'offer' || message.kind === 'volatile') {
    return JSON.stringify({ ...message, delivery: toWire(message.delivery) });
  }
  return JSON.stringify(message);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isWireDelivery = (v: unknown): v is WireDelivery =>
  isObject(v) && ('json' in v ? isObject(v.json) : typeof v.binary === 'string');

/** What each kind needs to be acted on; anything else (another version's message, say) is
 *  ignored rather than half-understood. */
const WELL_FORMED: Record<ChannelMessage['kind'], (m: Record<string, unknown>) => boolean> = {
  deliver: (m) => typeof m.id === 'string' && isWireDelivery(m.delivery),
  offer: (m) =>
    typeof m.id === 'string' &&
    isWireDelivery(m.delivery) &&
    isObject(m.replyTo) &&
    typeof m.replyTo.instance === 'string' &&
    typeof m.replyTo.correlation === 'string',
  volatile: (m) => isWireDelivery(m.delivery),
  queue_changed: () => true,
  session_opened: (m) => typeof m.sessionId === 'string' && typeof m.authAt === 'number',
  close: (m) => typeof m.reason === 'string',
  status: (m) => typeof m.correlation === 'string' && typeof m.status === 'string',
};

/** The message, or undefined for anything that is not one (ignored by the receiver). */
export function decodeChannelMessage(raw: string): ChannelMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isObject(value) || typeof value.kind !== 'string' || !Object.hasOwn(WELL_FORMED, value.kind))
    return undefined;
  if (!WELL_FORMED[value.kind as ChannelMessage['kind']](value)) return undefined;
  if (value.kind === 'deliver' || value.kind === 'offer' || value.kind === 'volatile')
    return { ...value, delivery: fromWire(value.delivery as WireDelivery) } as ChannelMessage;
  return value as ChannelMessage;
}
