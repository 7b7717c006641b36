// What an authenticated client can ask of the relay (docs/protocol.md §4.3): relay, binary frames,
// volatile_relay, group_multicast, typed relays, ack, and v1's subscribe_alias. For each: the
// checks in protocol order, admission (the sender's and the recipient's buckets), routing, and
// the sender's delivery_status. The relay never adds a sender to anything it delivers.
// A refusal that is not a message's status is thrown as a RelayError; the transport turns it
// into an `error` frame.
import type { Config } from '../config.js';
import { RelayError, asRelayError, rethrowUnlessUnavailable } from '../errors.js';
import type { Json } from '../json.js';
import type { PowService } from '../pow/pow-service.js';
import type { RateLimiter } from '../ratelimit/limiter.js';
import { isLegacyName, parseAddress } from './addresses.js';
import {
  SERVER_FRAME_TYPES,
  aliasSubscribedFrame,
  binaryDelivery,
  messageDelivery,
  newMessageId,
  sealedDelivery,
  statusFrame,
  typedDelivery,
  type Delivery,
  type DeliveryStatus,
  type RejectReason,
} from './deliveries.js';
import type { Endpoint } from './endpoint.js';
import type { Router } from './router.js';

/** The authenticated session a command comes from (implemented by the WebSocket transport). */
export interface SenderSession extends Endpoint {
  readonly identity: string;
  /** The sender's IP as limits count it (IPv4, or the IPv6 /64). */
  readonly ipKey: string;
  /** Its v1 aliases. */
  readonly aliases: Set<string>;
  /** False once the session is closing. */
  readonly authenticated: boolean;
  /** A delivery-class frame for the sender (delivery_status): jittered like deliveries. */
  sendStatus(frame: Json): void;
  /** Any other frame for the sender: in order, without jitter. */
  sendControl(frame: Json): void;
}

export const MAX_ENVELOPE_BYTES = 256 * 1024;
const MAX_CLIENT_ID = 64;
export const MAX_TARGETS = 100;
const MAX_ACK_IDS = 1000;
const MAX_ALIASES = 50;
const HASH_CHARS = 64;

/** Done (undefined), or a promise when the work had to wait (for the store). */
export type Pending = void | Promise<void>;

/** A message the store could not take: its sender hears `storage_unavailable`. */
function unavailable(err: unknown, notify: (status: DeliveryStatus, reason: RejectReason) => void) {
  rethrowUnlessUnavailable(err);
  notify('rejected', 'storage_unavailable');
}

const invalid = (message: string) => new RelayError(400, 'invalid_message', message);

export class RelayService {
  constructor(
    private readonly router: Router,
    private readonly limiter: RateLimiter,
    private readonly pow: PowService,
    private readonly config: Config,
  ) {}

  /**
   * A JSON frame of an authenticated session (any type but auth and the dummies). Done
   * synchronously when nothing has to wait for the store (a relay to a recipient with a session
   * here, say), so no promise is made then on the transport's hot path. A refusal is thrown, or
   * rejects the promise when it had to wait.
   */
  jsonFrame(sender: SenderSession, frame: Json): Pending {
    switch (frame.type) {
      case 'relay':
        return this.relay(sender, frame);
      case 'volatile_relay':
        return this.volatileRelay(sender, frame);
      case 'group_multicast':
        return this.multicast(sender, frame);
      case 'ack':
        return this.ack(sender, frame);
      case 'subscribe_alias':
        if (this.config.compat === 'v1') return this.subscribeAlias(sender, frame);
        break;
    }
    if (frame.to !== undefined && !SERVER_FRAME_TYPES.has(frame.type as string))
      return this.typedRelay(sender, frame);
    throw invalid(`Unknown frame type "${String(frame.type)}"`);
  }

  /** A binary frame, `[64 hex recipient][payload]`: as jsonFrame(). */
  binaryFrame(sender: SenderSession, data: Buffer): Pending {
    if (data.length <= HASH_CHARS)
      throw invalid('Binary frames are a 64-character recipient hash followed by a payload');
    const raw = data.toString('latin1', 0, HASH_CHARS);
    const to = parseAddress(raw, 'off');
    if (to === null)
      return sender.sendStatus(statusFrame(null, raw, 'rejected', 'invalid_recipient'));
    if (data.length - HASH_CHARS > MAX_ENVELOPE_BYTES)
      return sender.sendStatus(statusFrame(null, to, 'rejected', 'too_large'));
    const id = newMessageId();
    // A copy: `data` is a view of the socket's read buffer, which it would keep alive.
    const payload = Buffer.allocUnsafe(data.length - HASH_CHARS);
    data.copy(payload, 0, HASH_CHARS);
    const delivery = binaryDelivery(payload);
    return this.admitThenRoute(sender, to, null, id, id, delivery);
  }

  private relay(sender: SenderSession, frame: Json): Pending {
    const clientId = this.clientId(frame);
    const to = parseAddress(frame.to, this.config.compat);
    if (to === null) {
      const target = String(frame.to ?? '');
      return sender.sendStatus(statusFrame(clientId, target, 'rejected', 'invalid_recipient'));
    }
    if (typeof frame.envelope !== 'string') throw invalid('envelope must be a string');
    if (Buffer.byteLength(frame.envelope) > MAX_ENVELOPE_BYTES)
      return sender.sendStatus(statusFrame(clientId, to, 'rejected', 'too_large'));
    const id = newMessageId();
    const delivery = messageDelivery(id, frame.envelope);
    return this.admitThenRoute(sender, to, clientId, clientId, id, delivery);
  }

  /** admit(), then route() if admitted; synchronous while neither has to wait. */
  private admitThenRoute(
    sender: SenderSession,
    to: string,
    admitStatusId: unknown,
    statusId: unknown,
    id: string,
    delivery: Delivery,
  ): Pending {
    const admitted = this.admit(sender, to, admitStatusId);
    if (admitted === true) return this.route(sender, to, statusId, id, delivery);
    if (admitted === false) return;
    return admitted.then((ok) => (ok ? this.route(sender, to, statusId, id, delivery) : undefined));
  }

  private async volatileRelay(sender: SenderSession, frame: Json): Promise<void> {
    const to = parseAddress(frame.to, this.config.compat);
    if (to === null || typeof frame.body !== 'string')
      throw invalid('volatile_relay needs a valid to and a string body');
    if (Buffer.byteLength(frame.body) > MAX_ENVELOPE_BYTES)
      throw new RelayError(400, 'message_too_large', 'body too large');
    this.limiter.takeLocal('msg_send', sender.identity);
    // Live only: dropped when the recipient is offline; no reply either way.
    const delivery = binaryDelivery(Buffer.from(frame.body, 'utf8'));
    await this.router.send(to, { id: newMessageId(), delivery, volatile: true });
  }

  private async multicast(sender: SenderSession, frame: Json): Promise<void> {
    const targets = frame.targets;
    if (!Array.isArray(targets) || targets.length === 0 || targets.length > MAX_TARGETS)
      throw invalid(`targets must be a list of 1-${MAX_TARGETS} recipients`);
    const parsed: Array<{ to: string; body: unknown; msgType: unknown }> = [];
    for (const target of targets as unknown[]) {
      const t = (typeof target === 'object' && target !== null ? target : {}) as Json;
      const to = parseAddress(t.to, this.config.compat);
      if (to === null || t.body === undefined)
        throw invalid('every target needs a valid to and a body');
      parsed.push({ to, body: t.body, msgType: t.msg_type });
    }
    const clientId = typeof frame.id === 'string' ? frame.id : undefined;
    this.limiter.takeLocal('msg_send', sender.identity, parsed.length);
    for (const { to, body, msgType } of parsed) {
      const id = newMessageId();
      const offered = this.router.offersTo(to);
      if (!offered && !(await this.admitRecipient(sender, to, clientId ?? id))) continue;
      await this.route(sender, to, clientId, id, sealedDelivery(id, body, msgType));
    }
  }

  private typedRelay(sender: SenderSession, frame: Json): Pending {
    const to = parseAddress(frame.to, this.config.compat);
    if (to === null)
      return sender.sendStatus(
        statusFrame(frame.id, String(frame.to), 'rejected', 'invalid_recipient'),
      );
    if (Buffer.byteLength(JSON.stringify(frame)) > MAX_ENVELOPE_BYTES)
      return sender.sendStatus(statusFrame(frame.id, to, 'rejected', 'too_large'));
    const delivery = typedDelivery(frame);
    return this.admitThenRoute(sender, to, frame.id, frame.id, newMessageId(), delivery);
  }

  private async ack(sender: SenderSession, frame: Json): Promise<void> {
    const ids = frame.ids;
    if (
      !Array.isArray(ids) ||
      ids.length > MAX_ACK_IDS ||
      !ids.every((id) => typeof id === 'string')
    )
      throw invalid('ack needs ids: a list of strings');
    await this.router.ack(sender.identity, ids as string[]);
    // Messages to its v1 aliases reach this session too: an id may be one of theirs.
    for (const alias of sender.aliases) await this.router.ack(alias, ids as string[]);
  }

  private async subscribeAlias(sender: SenderSession, frame: Json): Promise<void> {
    const payload = (frame.payload ?? {}) as Json;
    const alias = parseAddress(payload.alias, this.config.compat);
    // An identity hash is not an alias: it would take over that identity's messages.
    if (alias === null || !isLegacyName(alias))
      throw invalid('alias must be 1-64 characters of A-Z a-z 0-9 _ - and not an identity hash');
    if (sender.aliases.size >= MAX_ALIASES && !sender.aliases.has(alias))
      throw new RelayError(400, 'alias_limit', 'Maximum alias limit reached');
    await this.pow.verify(payload.seed, payload.nonce, { purpose: 'auth', context: alias });
    if (!sender.authenticated) return; // closed while the PoW was checked
    if (!(await this.router.register(alias, sender, { replace: false })))
      throw new RelayError(409, 'alias_taken', 'This alias is held by another session');
    sender.aliases.add(alias);
    if (!sender.authenticated) return this.router.unregister(alias, sender);
    sender.sendControl(aliasSubscribedFrame(alias));
    await this.router.drain(alias);
  }

  /** The client's optional message id (`id`, 1-64 characters). */
  private clientId(frame: Json): string | undefined {
    const id = frame.id;
    if (id === undefined) return undefined;
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_CLIENT_ID)
      throw invalid(`id must be a string of 1-${MAX_CLIENT_ID} characters`);
    return id;
  }

  /**
   * Takes the sender's and the recipient's tokens; false when the recipient's bucket refused.
   * Either refusal is the message's status; the sender's own is also thrown (an `error` frame;
   * a jailed socket is closed). Synchronous unless the recipient's bucket is in the store.
   */
  private admit(sender: SenderSession, to: string, statusId: unknown): boolean | Promise<boolean> {
    try {
      this.limiter.takeLocal('msg_send', sender.identity);
    } catch (err) {
      const { retryAfterS } = asRelayError(err);
      sender.sendStatus(statusFrame(statusId, to, 'rejected', 'rate_limited', retryAfterS));
      throw err;
    }
    // Offered to other instances first: the one holding the session takes the recipient's
    // token there, or admitQueued() here if it has to be queued.
    if (this.router.offersTo(to)) return true;
    return this.admitRecipient(sender, to, statusId);
  }

  /**
   * Takes the recipient's token; false (the sender told: rate_limited, or invalid_recipient for
   * a recipient only the offline queue can reach that has no key bundle) when refused.
   */
  private admitRecipient(
    sender: SenderSession,
    to: string,
    statusId: unknown,
  ): boolean | Promise<boolean> {
    let taken: boolean | Promise<boolean>;
    try {
      taken = this.limiter.takeRecipientNow(
        to,
        this.router.requiresBundle(to),
        this.router.isLocal(to),
      );
    } catch (err) {
      return this.recipientRefused(sender, to, statusId, err);
    }
    if (taken === true) return true;
    if (taken === false) return this.noRecipient(sender, to, statusId);
    return taken.then(
      (known) => known || this.noRecipient(sender, to, statusId),
      (err: unknown) => this.recipientRefused(sender, to, statusId, err),
    );
  }

  private noRecipient(sender: SenderSession, to: string, statusId: unknown): false {
    this.router.countNoRecipient();
    sender.sendStatus(statusFrame(statusId, to, 'rejected', 'invalid_recipient'));
    return false;
  }

  private recipientRefused(
    sender: SenderSession,
    to: string,
    statusId: unknown,
    err: unknown,
  ): false {
    const { retryAfterS } = asRelayError(err);
    sender.sendStatus(statusFrame(statusId, to, 'rejected', 'rate_limited', retryAfterS));
    return false;
  }

  /** Routes one message and reports its fate to the sender as delivery_status. */
  private route(
    sender: SenderSession,
    to: string,
    statusId: unknown,
    id: string,
    delivery: Delivery,
  ): Pending {
    const notify = (status: DeliveryStatus, reason?: RejectReason) =>
      sender.sendStatus(statusFrame(statusId ?? id, to, status, reason));
    const chargeQueued = (bytes: number): RejectReason | undefined => {
      try {
        this.limiter.takeLocal('queue_bytes', sender.ipKey, bytes);
        return undefined;
      } catch (err) {
        // Larger than the whole budget: it can never be queued, so not "rate_limited".
        return asRelayError(err).code === 'rate_limited' ? 'rate_limited' : 'too_large';
      }
    };
    const admitQueued = this.router.offersTo(to)
      ? () => this.admitRecipient(sender, to, statusId)
      : undefined;
    let sent;
    try {
      sent = this.router.send(to, { id, delivery, chargeQueued, admitQueued }, notify);
    } catch (err) {
      return unavailable(err, notify);
    }
    return sent?.catch((err: unknown) => unavailable(err, notify));
  }
}
