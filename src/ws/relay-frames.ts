// Authenticated frames (PROTOCOL.md §4.3): relay, binary, volatile_relay, group_multicast,
// typed relays, ack, and v1's subscribe_alias. The server never adds a sender to anything.
import { RelayError } from '../errors.js';
import type { Json } from '../json.js';
import { isLegacyName, parseAddress } from '../relay/addresses.js';
import { newMessageId, type DeliveryStatus, type LiveFrame } from '../relay/router.js';
import type { Session, SessionDeps } from './session.js';

export interface RelayFrameContext {
  session: Session;
  identity: string;
  deps: SessionDeps;
}

const MAX_ENVELOPE_BYTES = 256 * 1024;
const MAX_CLIENT_ID = 64;
const MAX_TARGETS = 100;
const MAX_ALIASES = 50;
const HASH_BYTES = 64;
/** Fields a typed relay keeps; anything else (a sender, say) is dropped. */
/** Frame types only the server sends: a client cannot relay a look-alike. */
const SERVER_TYPES = new Set([
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
];

export async function handleRelayFrame(
  c: RelayFrameContext,
  frame: { json?: Json; binary?: Buffer },
): Promise<void> {
  if (frame.binary) return relayBinary(c, frame.binary);
  const json = frame.json!;
  switch (json.type) {
    case 'relay':
      return relay(c, json);
    case 'volatile_relay':
      return volatileRelay(c, json);
    case 'group_multicast':
      return multicast(c, json);
    case 'ack':
      return ack(c, json);
    case 'subscribe_alias':
      if (c.deps.ctx.config.compat === 'v1') return subscribeAlias(c, json);
      break;
  }
  if (json.to !== undefined && !SERVER_TYPES.has(json.type as string)) return typedRelay(c, json);
  c.session.sendError('invalid_message', `Unknown frame type "${String(json.type)}"`);
}

function statusFrame(
  id: unknown,
  target: string,
  status: DeliveryStatus,
  reason?: string,
  retryAfter?: number,
): Json {
  const frame: Json = { type: 'delivery_status', id: id ?? null, target, status };
  if (reason !== undefined) frame.reason = reason;
  if (retryAfter !== undefined) frame.retry_after = retryAfter;
  return frame;
}

function clientId(c: RelayFrameContext, json: Json): string | undefined | null {
  const id = json.id;
  if (id === undefined) return undefined;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_CLIENT_ID) {
    c.session.sendError('invalid_message', `id must be a string of 1-${MAX_CLIENT_ID} characters`);
    return null;
  }
  return id;
}

/** Takes the sender's and the recipient's tokens; false (sender told) when refused. */
async function admit(
  c: RelayFrameContext,
  to: string,
  statusId: unknown,
  cost = 1,
): Promise<boolean> {
  const { limiter } = c.deps.ctx;
  try {
    limiter.takeLocal('msg_send', c.identity, cost);
  } catch (err) {
    if (!(err instanceof RelayError)) throw err;
    c.session.sendJittered(statusFrame(statusId, to, 'rejected', 'rate_limited', err.retryAfterS));
    c.session.refuse(err);
    return false;
  }
  try {
    await limiter.takeIdentity(to, 'msg_receive', { failClosed: false });
  } catch (err) {
    if (!(err instanceof RelayError)) throw err;
    c.session.sendJittered(statusFrame(statusId, to, 'rejected', 'rate_limited', err.retryAfterS));
    return false;
  }
  return true;
}

/** Routes one message and reports its fate to the sender as delivery_status. */
async function route(
  c: RelayFrameContext,
  to: string,
  statusId: unknown,
  frame: LiveFrame,
  id: string,
): Promise<void> {
  // The offline form is only made if the message has to be queued.
  const queued = () =>
    frame.kind === 'json'
      ? JSON.stringify(frame.value)
      : JSON.stringify({ type: 'binary_payload', data_hex: frame.data.toString('hex') });
  const notify = (status: DeliveryStatus, reason?: string) =>
    c.session.sendJittered(statusFrame(statusId ?? id, to, status, reason));
  const chargeQueued = (bytes: number): boolean => {
    try {
      c.deps.ctx.limiter.takeLocal('queue_bytes', c.session.ipKey, bytes);
      return true;
    } catch {
      return false;
    }
  };
  try {
    await c.deps.router.send(to, { id, frame, queued, chargeQueued }, notify);
  } catch (err) {
    if (!(err instanceof RelayError)) throw err;
    notify('rejected', err.code);
  }
}

async function relay(c: RelayFrameContext, json: Json): Promise<void> {
  const id = clientId(c, json);
  if (id === null) return;
  const to = parseAddress(json.to, c.deps.ctx.config.compat);
  if (to === null)
    return c.session.sendJittered(
      statusFrame(id, String(json.to ?? ''), 'rejected', 'invalid_recipient'),
    );
  if (typeof json.envelope !== 'string')
    return c.session.sendError('invalid_message', 'envelope must be a string');
  if (Buffer.byteLength(json.envelope) > MAX_ENVELOPE_BYTES) {
    return c.session.sendJittered(statusFrame(id, to, 'rejected', 'too_large'));
  }
  if (!(await admit(c, to, id))) return;
  const messageId = newMessageId();
  await route(
    c,
    to,
    id,
    { kind: 'json', value: { type: 'msg', id: messageId, envelope: json.envelope } },
    messageId,
  );
}

async function relayBinary(c: RelayFrameContext, data: Buffer): Promise<void> {
  if (data.length <= HASH_BYTES) {
    return c.session.sendError(
      'invalid_message',
      'Binary frames are a 64-character recipient hash followed by a payload',
    );
  }
  const to = parseAddress(data.toString('latin1', 0, HASH_BYTES), 'off');
  if (to === null)
    return c.session.sendJittered(
      statusFrame(null, data.toString('latin1', 0, HASH_BYTES), 'rejected', 'invalid_recipient'),
    );
  if (data.length - HASH_BYTES > MAX_ENVELOPE_BYTES)
    return c.session.sendJittered(statusFrame(null, to, 'rejected', 'too_large'));
  if (!(await admit(c, to, null))) return;
  const messageId = newMessageId();
  await route(
    c,
    to,
    messageId,
    { kind: 'binary', data: Buffer.from(data.subarray(HASH_BYTES)) },
    messageId,
  );
}

async function volatileRelay(c: RelayFrameContext, json: Json): Promise<void> {
  const to = parseAddress(json.to, c.deps.ctx.config.compat);
  if (to === null || typeof json.body !== 'string') {
    return c.session.sendError(
      'invalid_message',
      'volatile_relay needs a valid to and a string body',
    );
  }
  if (Buffer.byteLength(json.body) > MAX_ENVELOPE_BYTES)
    return c.session.sendError('message_too_large', 'body too large');
  try {
    c.deps.ctx.limiter.takeLocal('msg_send', c.identity);
  } catch (err) {
    return c.session.refuse(err);
  }
  // Live only: dropped when the recipient is offline; no reply either way.
  await c.deps.router.send(to, {
    id: newMessageId(),
    frame: { kind: 'binary', data: Buffer.from(json.body, 'utf8') },
    queued: null,
  });
}

async function multicast(c: RelayFrameContext, json: Json): Promise<void> {
  const targets = json.targets;
  if (!Array.isArray(targets) || targets.length === 0 || targets.length > MAX_TARGETS) {
    return c.session.sendError(
      'invalid_message',
      `targets must be a list of 1-${MAX_TARGETS} recipients`,
    );
  }
  const parsed: Array<{ to: string; frame: Json }> = [];
  for (const target of targets as unknown[]) {
    const t = target as Json;
    const to =
      typeof t === 'object' && t !== null ? parseAddress(t.to, c.deps.ctx.config.compat) : null;
    if (to === null || t.body === undefined) {
      return c.session.sendError('invalid_message', 'every target needs a valid to and a body');
    }
    const frame: Json = { type: 'sealed_message', body: t.body };
    if (t.msg_type !== undefined) frame.msg_type = t.msg_type;
    parsed.push({ to, frame });
  }
  const statusId = typeof json.id === 'string' ? json.id : undefined;
  try {
    c.deps.ctx.limiter.takeLocal('msg_send', c.identity, parsed.length);
  } catch (err) {
    return c.session.refuse(err);
  }
  for (const { to, frame } of parsed) {
    const messageId = newMessageId();
    try {
      await c.deps.ctx.limiter.takeIdentity(to, 'msg_receive', { failClosed: false });
    } catch (err) {
      if (!(err instanceof RelayError)) throw err;
      c.session.sendJittered(
        statusFrame(statusId ?? messageId, to, 'rejected', 'rate_limited', err.retryAfterS),
      );
      continue;
    }
    await route(c, to, statusId, { kind: 'json', value: { ...frame, id: messageId } }, messageId);
  }
}

async function typedRelay(c: RelayFrameContext, json: Json): Promise<void> {
  const to = parseAddress(json.to, c.deps.ctx.config.compat);
  if (to === null)
    return c.session.sendJittered(
      statusFrame(json.id, String(json.to), 'rejected', 'invalid_recipient'),
    );
  const size = JSON.stringify(json).length;
  if (size > MAX_ENVELOPE_BYTES)
    return c.session.sendJittered(statusFrame(json.id, to, 'rejected', 'too_large'));
  if (!(await admit(c, to, json.id))) return;
  const frame: Json = { type: json.type };
  for (const field of RELAYED_FIELDS) if (json[field] !== undefined) frame[field] = json[field];
  await route(c, to, json.id, { kind: 'json', value: frame }, newMessageId());
}

async function ack(c: RelayFrameContext, json: Json): Promise<void> {
  const ids = json.ids;
  if (!Array.isArray(ids) || ids.length > 1000 || !ids.every((id) => typeof id === 'string')) {
    return c.session.sendError('invalid_message', 'ack needs ids: a list of strings');
  }
  try {
    await c.deps.router.ack(c.identity, ids as string[]);
  } catch (err) {
    if (!(err instanceof RelayError)) throw err;
    c.session.sendError(err.code, err.message);
  }
}

async function subscribeAlias(c: RelayFrameContext, json: Json): Promise<void> {
  const payload = (json.payload ?? {}) as Json;
  const alias = parseAddress(payload.alias, c.deps.ctx.config.compat);
  // An identity hash is not an alias: it would take over that identity's messages.
  if (alias === null || !isLegacyName(alias)) {
    return c.session.sendError(
      'invalid_message',
      'alias must be 1-64 characters of A-Z a-z 0-9 _ - and not an identity hash',
    );
  }
  if (c.session.aliases.size >= MAX_ALIASES && !c.session.aliases.has(alias)) {
    return c.session.sendError('alias_limit', 'Maximum alias limit reached');
  }
  try {
    await c.deps.ctx.services.pow.verify(payload.seed, payload.nonce, {
      purpose: 'auth',
      context: alias,
    });
  } catch (err) {
    if (!(err instanceof RelayError)) throw err;
    return c.session.sendError(err.code, err.message);
  }
  if (!c.session.authenticated) return; // closed while the PoW was checked
  if (!(await c.deps.router.register(alias, c.session, { replace: false }))) {
    return c.session.sendError('alias_taken', 'This alias is held by another session');
  }
  c.session.aliases.add(alias);
  if (!c.session.authenticated) {
    await c.deps.router.unregister(alias, c.session);
    return;
  }
  c.session.sendControl({ type: 'alias_subscribed', alias });
  await c.deps.router.drain(alias);
}
