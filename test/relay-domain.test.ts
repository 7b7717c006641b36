// The relay domain's pure parts, without a socket: the wire shape of every delivery (key order
// included: it is what the client reads), the cross-instance channel codec, the registry of local
// sessions, and which addresses each mode accepts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressRule, isLegacyName, parseAddress } from '../src/relay/addresses.js';
import {
  decodeChannelMessage,
  encodeChannelMessage,
  type ChannelMessage,
} from '../src/relay/channel.js';
import {
  SERVER_FRAME_TYPES,
  aliasSubscribedFrame,
  binaryDelivery,
  messageDelivery,
  newMessageId,
  offlineForm,
  queuedDelivery,
  sealedDelivery,
  statusFrame,
  typedDelivery,
  type Delivery,
} from '../src/relay/deliveries.js';
import { Registry } from '../src/relay/registry.js';
import { FakeEndpoint, newHash } from './helpers/domain.js';

const H = 'ab'.repeat(32);
const wire = (delivery: Delivery): string => {
  assert.equal(delivery.kind, 'json');
  return JSON.stringify(delivery.kind === 'json' ? delivery.value : undefined);
};

describe('deliveries: the wire shape of each frame', () => {
  it('relay → msg: type, id, envelope and nothing else', () => {
    assert.equal(
      wire(messageDelivery('m1', 'sealed')),
      '{"type":"msg","id":"m1","envelope":"sealed"}',
    );
  });

  it('binary payloads stay bytes, the same buffer', () => {
    const data = Buffer.from([0, 1, 254, 255]);
    const delivery = binaryDelivery(data);
    assert.equal(delivery.kind, 'binary');
    assert.equal(delivery.kind === 'binary' && delivery.data, data);
  });

  it('group_multicast target → sealed_message: body, msg_type only when given, then id', () => {
    assert.equal(
      wire(sealedDelivery('s1', { k: [1, 'x'] }, 'text')),
      '{"type":"sealed_message","body":{"k":[1,"x"]},"msg_type":"text","id":"s1"}',
    );
    assert.equal(
      wire(sealedDelivery('s2', 'b', undefined)),
      '{"type":"sealed_message","body":"b","id":"s2"}',
    );
    assert.equal(
      wire(sealedDelivery('s3', null, null)),
      '{"type":"sealed_message","body":null,"msg_type":null,"id":"s3"}',
    );
  });

  it('typed relay: its type and the allowed fields in protocol order; a sender never', () => {
    const frame = {
      pow: 'p',
      sender: 'mallory',
      from: H,
      to: H,
      type: 'msg_fragment',
      id: 'c1',
      content: 'c',
      body: 'b',
      bundle: { b: 1 },
      data: 'd',
      total: 2,
      index: 0,
      fragmentId: 'f',
      extra: true,
    };
    assert.equal(
      wire(typedDelivery(frame)),
      '{"type":"msg_fragment","fragmentId":"f","index":0,"total":2,"data":"d",' +
        '"bundle":{"b":1},"body":"b","content":"c","id":"c1","pow":"p"}',
    );
    assert.equal(wire(typedDelivery({ type: 'chat', to: H })), '{"type":"chat"}');
    assert.equal(
      wire(typedDelivery({ type: 'read', to: H, id: null, index: false })),
      '{"type":"read","index":false,"id":null}',
    );
  });

  it('delivery_status: id (null when absent), target, status, then reason and retry_after', () => {
    assert.equal(
      JSON.stringify(statusFrame('c1', H, 'delivered')),
      `{"type":"delivery_status","id":"c1","target":"${H}","status":"delivered"}`,
    );
    assert.equal(
      JSON.stringify(statusFrame(undefined, H, 'queued')),
      `{"type":"delivery_status","id":null,"target":"${H}","status":"queued"}`,
    );
    assert.equal(
      JSON.stringify(statusFrame('c2', H, 'rejected', 'rate_limited', 7)),
      `{"type":"delivery_status","id":"c2","target":"${H}","status":"rejected",` +
        `"reason":"rate_limited","retry_after":7}`,
    );
    assert.equal(
      JSON.stringify(statusFrame(null, 'x', 'rejected', 'invalid_recipient')),
      '{"type":"delivery_status","id":null,"target":"x","status":"rejected",' +
        '"reason":"invalid_recipient"}',
    );
  });

  it('alias_subscribed names the alias', () => {
    assert.equal(
      JSON.stringify(aliasSubscribedFrame('bob')),
      '{"type":"alias_subscribed","alias":"bob"}',
    );
  });

  it('server message ids are random UUIDs', () => {
    const ids = new Set(Array.from({ length: 100 }, newMessageId));
    assert.equal(ids.size, 100);
    for (const id of ids)
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('frames only the server sends cannot be relayed by a client', () => {
    for (const type of ['msg', 'queued_message', 'delivery_status', 'sealed_message', 'error'])
      assert.ok(SERVER_FRAME_TYPES.has(type), type);
    for (const type of ['auth_success', 'alias_subscribed', 'dummy_ack', 'pong', 'binary_payload'])
      assert.ok(SERVER_FRAME_TYPES.has(type), type);
    for (const type of ['chat', 'msg_fragment', 'relay', 'receipt'])
      assert.ok(!SERVER_FRAME_TYPES.has(type), type);
  });
});

describe('deliveries: the offline form and queued_message', () => {
  it('a JSON frame is kept as its JSON text and comes back as the payload', () => {
    const delivery = sealedDelivery('s1', { n: 1 }, 'm');
    const offline = offlineForm(delivery);
    assert.equal(offline, '{"type":"sealed_message","body":{"n":1},"msg_type":"m","id":"s1"}');
    assert.equal(
      wire(queuedDelivery('q1', offline)),
      `{"type":"queued_message","id":"q1","payload":${offline}}`,
    );
    const queued = queuedDelivery('q1', offline);
    assert.deepEqual(
      queued.kind === 'json' && queued.value.payload,
      delivery.kind === 'json' && delivery.value,
    );
  });

  it('a binary payload is kept as binary_payload with data_hex, every byte value intact', () => {
    const data = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const offline = offlineForm(binaryDelivery(data));
    assert.equal(offline, `{"type":"binary_payload","data_hex":"${data.toString('hex')}"}`);
    const queued = queuedDelivery('q2', offline);
    assert.equal(
      wire(queued),
      `{"type":"queued_message","id":"q2","payload":{"type":"binary_payload","data_hex":"${data.toString('hex')}"}}`,
    );
    const payload = (queued.kind === 'json' ? queued.value.payload : undefined) as {
      data_hex: string;
    };
    assert.deepEqual(Buffer.from(payload.data_hex, 'hex'), data);
  });

  it('an empty binary payload round-trips too', () => {
    assert.equal(
      offlineForm(binaryDelivery(Buffer.alloc(0))),
      '{"type":"binary_payload","data_hex":""}',
    );
  });
});

describe('channel: the cross-instance codec', () => {
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i));
  const messages: ChannelMessage[] = [
    { kind: 'deliver', id: 'm1', delivery: messageDelivery('m1', 'e') },
    {
      kind: 'deliver',
      id: 'm2',
      delivery: sealedDelivery('m2', { deep: [null, true] }, 't'),
      replyTo: { instance: newHash(), correlation: 'c-1' },
    },
    { kind: 'deliver', id: 'm3', delivery: binaryDelivery(bytes) },
    {
      kind: 'offer',
      id: 'm4',
      delivery: binaryDelivery(bytes),
      replyTo: { instance: newHash(), correlation: 'c-4' },
    },
    { kind: 'volatile', delivery: binaryDelivery(Buffer.from('typing', 'utf8')) },
    { kind: 'volatile', delivery: messageDelivery('v', 'x') },
    { kind: 'queue_changed' },
    { kind: 'session_opened', sessionId: 's-1', authAt: 1_700_000_000_123 },
    { kind: 'close', reason: 'session_replaced' },
    { kind: 'close', reason: 'account_burned' },
    { kind: 'close', reason: 'server_shutdown' },
    { kind: 'status', correlation: 'c-1', status: 'delivered' },
    { kind: 'status', correlation: 'c-2', status: 'rejected', reason: 'mailbox_full' },
  ];

  for (const message of messages) {
    const encoded = encodeChannelMessage(message);
    it(`round-trips ${encoded.length > 80 ? `${encoded.slice(0, 77)}...` : encoded}`, () => {
      assert.deepEqual(decodeChannelMessage(encoded), message);
    });
  }

  it('binary deliveries travel as base64 in named fields', () => {
    const encoded = encodeChannelMessage({
      kind: 'deliver',
      id: 'b',
      delivery: binaryDelivery(bytes),
    });
    assert.deepEqual(JSON.parse(encoded), {
      kind: 'deliver',
      id: 'b',
      delivery: { binary: bytes.toString('base64') },
    });
  });

  const garbage = [
    '',
    'not json',
    '{"kind":',
    'null',
    '42',
    '"deliver"',
    '[]',
    '[{"kind":"queue_changed"}]',
    '{}',
    '{"kind":5}',
    '{"kind":"no_such_kind"}',
    '{"kind":"deliver","id":"x"}',
    '{"kind":"deliver","id":"x","delivery":null}',
    '{"kind":"deliver","id":"x","delivery":"text"}',
    '{"kind":"deliver","id":"x","delivery":{}}',
    '{"kind":"deliver","id":"x","delivery":[]}',
    '{"kind":"deliver","id":"x","delivery":{"binary":5}}',
    '{"kind":"deliver","id":"x","delivery":{"json":"text"}}',
    '{"kind":"deliver","id":"x","delivery":{"json":null}}',
    '{"kind":"deliver","id":"x","delivery":{"json":[1]}}',
    '{"kind":"deliver","delivery":{"json":{"type":"msg"}}}',
    '{"kind":"offer","id":"x","delivery":{"binary":""}}',
    '{"kind":"offer","id":"x","delivery":{"binary":""},"replyTo":{"instance":"i"}}',
    '{"kind":"offer","id":"x","delivery":{"binary":""},"replyTo":"i"}',
    '{"kind":"volatile","delivery":{"binary":null}}',
    '{"kind":"volatile"}',
    '{"kind":"session_opened","authAt":1}',
    '{"kind":"session_opened","sessionId":"s","authAt":"1"}',
    '{"kind":"close"}',
    '{"kind":"close","reason":7}',
    '{"kind":"status","status":"delivered"}',
    '{"kind":"status","correlation":"c"}',
  ];
  for (const raw of garbage) {
    it(`garbage decodes to undefined: ${JSON.stringify(raw)}`, () => {
      assert.equal(decodeChannelMessage(raw), undefined);
    });
  }
});

describe('registry: local sessions by address', () => {
  it('a first claim takes the address: held until its first drain', () => {
    const registry = new Registry();
    const e = new FakeEndpoint();
    assert.equal(registry.claim(H, e, true), undefined);
    assert.ok(registry.has(H));
    const entry = registry.get(H);
    assert.equal(entry?.endpoint, e);
    assert.equal(entry?.draining, true);
    assert.equal(entry?.awaitingDrain, true);
    assert.deepEqual(entry?.held, []);
    assert.deepEqual([...registry.addresses()], [H]);
  });

  it('replace: the new session takes the address and the old one is returned', () => {
    const registry = new Registry();
    const [older, newer] = [new FakeEndpoint(), new FakeEndpoint()];
    registry.claim(H, older, true);
    assert.equal(registry.claim(H, newer, true)?.endpoint, older);
    assert.equal(registry.get(H)?.endpoint, newer);
    assert.equal(registry.release(H, older), undefined, 'the replaced session releases nothing');
    assert.equal(registry.get(H)?.endpoint, newer);
  });

  it('an alias (no replace) held by another session is refused, nothing changed', () => {
    const registry = new Registry();
    const [holder, other] = [new FakeEndpoint(), new FakeEndpoint()];
    registry.claim('bob', holder, false);
    const entry = registry.get('bob');
    assert.equal(registry.claim('bob', other, false), null);
    assert.equal(registry.get('bob'), entry);
    assert.equal(entry?.endpoint, holder);
  });

  it('a session claiming its own address again keeps its entry and what is held in it', () => {
    const registry = new Registry();
    const e = new FakeEndpoint();
    registry.claim('bob', e, false);
    const entry = registry.get('bob')!;
    entry.held.push({ delivery: messageDelivery('m', 'e') });
    entry.remember('q1');
    assert.equal(registry.claim('bob', e, false), undefined);
    assert.equal(registry.claim('bob', e, true), undefined);
    assert.equal(registry.get('bob'), entry);
    assert.equal(entry.held.length, 1);
    assert.ok(entry.wasHanded('q1'));
  });

  it('release: only by the holder, once; the entry released is returned', () => {
    const registry = new Registry();
    const [e, other] = [new FakeEndpoint(), new FakeEndpoint()];
    registry.claim(H, e, true);
    const entry = registry.get(H);
    assert.equal(registry.release(H, other), undefined);
    assert.ok(registry.has(H));
    assert.equal(registry.release(H, e), entry);
    assert.equal(registry.has(H), false);
    assert.equal(registry.get(H), undefined);
    assert.equal(registry.release(H, e), undefined);
    assert.deepEqual([...registry.addresses()], []);
  });

  it("a replaced session's held arrivals move to its successor; takeHeld empties them", () => {
    const registry = new Registry();
    const [older, newer] = [new FakeEndpoint(), new FakeEndpoint()];
    registry.claim(H, older, true);
    const old = registry.get(H)!;
    const carried = { recipient: H, id: 'm', offline: () => '', inQueue: false };
    old.held.push({ delivery: messageDelivery('m', 'e'), carried });
    old.held.push({ delivery: binaryDelivery(Buffer.from('volatile')) });
    registry.claim(H, newer, true);
    assert.deepEqual(old.held, []);
    const entry = registry.get(H)!;
    assert.equal(entry.held.length, 2);
    assert.deepEqual(entry.takeHeld(), [carried], 'volatile frames are not carried');
    assert.deepEqual(entry.held, []);
  });

  it('remember/wasHanded: the last 10 000 ids are kept, the oldest forgotten first', () => {
    const registry = new Registry();
    registry.claim(H, new FakeEndpoint(), true);
    const entry = registry.get(H)!;
    assert.equal(entry.wasHanded('id-0'), false);
    for (let i = 0; i < 10_000; i++) entry.remember(`id-${i}`);
    entry.remember('id-0'); // already known: nothing is evicted
    assert.ok(entry.wasHanded('id-0'));
    assert.ok(entry.wasHanded('id-9999'));
    entry.remember('id-10000');
    assert.equal(entry.wasHanded('id-0'), false, 'the oldest goes when the bound is passed');
    assert.ok(entry.wasHanded('id-1'));
    assert.ok(entry.wasHanded('id-10000'));
    entry.remember('id-10001');
    assert.equal(entry.wasHanded('id-1'), false);
    assert.ok(entry.wasHanded('id-2'));
  });
});

describe('addresses', () => {
  const upper = 'AB'.repeat(32);
  it('identity hashes in any case, normalised to lower case, in both modes', () => {
    assert.equal(parseAddress(upper, 'off'), H);
    assert.equal(parseAddress(upper, 'v1'), H);
    assert.equal(isLegacyName(H), false);
  });

  it('legacy names only in compat mode', () => {
    for (const name of ['bob', 'A_b-9', 'x'.repeat(64)]) {
      assert.equal(parseAddress(name, 'off'), null, name);
      assert.equal(parseAddress(name, 'v1'), name, name);
      assert.ok(isLegacyName(name));
    }
  });

  it('anything else is no address', () => {
    const bad: unknown[] = [
      '',
      'x'.repeat(65),
      'bob!',
      'b o b',
      'é',
      `${H}0`,
      1,
      null,
      undefined,
      {},
      [H],
    ];
    for (const value of bad) {
      assert.equal(parseAddress(value, 'off'), null, String(value));
      assert.equal(parseAddress(value, 'v1'), null, String(value));
    }
  });

  it('a 63-character hex string is a legacy name, not a hash', () => {
    assert.equal(parseAddress(H.slice(1), 'off'), null);
    assert.equal(parseAddress(H.slice(1), 'v1'), H.slice(1));
  });

  it('the rule quoted in errors names what each mode accepts', () => {
    assert.equal(addressRule('off'), '64 hex characters');
    assert.match(addressRule('v1'), /legacy name/);
  });
});
