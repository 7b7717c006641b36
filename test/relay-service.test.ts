// Every client command of docs/protocol.md §4.3 against the real RelayService, Router, RateLimiter
// and MemoryStore, without a socket: the checks in protocol order (a refusal that is a message's
// status is a status; any other is thrown for the transport to answer with an `error` frame),
// admission by the sender's and the recipient's buckets, and the statuses the sender hears.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { Config } from '../src/config.js';
import type { Json } from '../src/json.js';
import {
  FakeEndpoint,
  FakeSender,
  newHash,
  startDomain,
  withBundleIn,
  type Domain,
} from './helpers/domain.js';
import { solveExactly } from './helpers/pow.js';

const MAX_ENVELOPE = 256 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function domain(t: TestContext, overrides: Partial<Config> = {}): Promise<Domain> {
  const d = await startDomain(overrides);
  t.after(() => d.stop());
  return d;
}

/** A recipient with a session on `d`. */
async function online(d: Domain, address = newHash()): Promise<[string, FakeEndpoint]> {
  const e = new FakeEndpoint();
  await d.router.register(address, e);
  await d.router.drain(address);
  return [address, e];
}

/** A recipient that is not connected but has a bundle: messages to it are queued. */
async function offline(d: Domain): Promise<string> {
  const h = newHash();
  await withBundleIn(d.store, h);
  return h;
}

const status = (id: unknown, target: string, outcome: string, reason?: string, retry?: number) => {
  const frame: Json = { type: 'delivery_status', id, target, status: outcome };
  if (reason !== undefined) frame.reason = reason;
  if (retry !== undefined) frame.retry_after = retry;
  return frame;
};

/** `handle` throws, or rejects, with a RelayError of this code; returns it. */
async function refused(handle: () => unknown, code: string): Promise<{ retryAfterS?: number }> {
  let error: unknown;
  await assert.rejects(
    async () => handle(),
    (err: { code?: string }) => {
      error = err;
      return err.code === code;
    },
  );
  return error as { retryAfterS?: number };
}

/** Hands every pushed carried message back as written, as the session does after a write. */
function writeAll(d: Domain, e: FakeEndpoint): void {
  for (const carried of e.carried) d.router.written(e, carried);
}

describe('relay', () => {
  it('delivers msg with a server id; the sender hears delivered under its own id', async (t) => {
    const d = await domain(t);
    const [to, e] = await online(d);
    const sender = new FakeSender();
    await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: 'sealed', id: 'c1' });
    const [delivered] = e.values as Json[];
    assert.match(String(delivered?.id), UUID);
    assert.deepEqual(delivered, { type: 'msg', id: delivered?.id, envelope: 'sealed' });
    assert.deepEqual(sender.statuses.items, []);
    writeAll(d, e);
    assert.deepEqual(sender.statuses.items, [status('c1', to, 'delivered')]);
  });

  it('without a client id the status carries the server message id', async (t) => {
    const d = await domain(t);
    const [to, e] = await online(d);
    const sender = new FakeSender();
    await d.relay.jsonFrame(sender, { type: 'relay', to: to.toUpperCase(), envelope: 'x' });
    writeAll(d, e);
    const serverId = (e.values[0] as Json).id;
    assert.deepEqual(sender.statuses.items, [status(serverId, to, 'delivered')]);
  });

  it('offline with a bundle: queued', async (t) => {
    const d = await domain(t);
    const to = await offline(d);
    const sender = new FakeSender();
    await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: 'x', id: 'c1' });
    assert.deepEqual(sender.statuses.items, [status('c1', to, 'queued')]);
  });

  it('checks in protocol order: the id first (thrown), nothing routed', async (t) => {
    const d = await domain(t);
    const [to, e] = await online(d);
    const sender = new FakeSender();
    for (const id of ['', 'x'.repeat(65), 7, null, ['a'], { a: 1 }]) {
      await refused(
        () => d.relay.jsonFrame(sender, { type: 'relay', to, envelope: 'x', id }),
        'invalid_message',
      );
      await refused(
        () => d.relay.jsonFrame(sender, { type: 'relay', to: 'nope', id }),
        'invalid_message',
      );
    }
    await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: 'x', id: 'x'.repeat(64) });
    assert.equal(e.pushed.length, 1);
    assert.equal(sender.statuses.length, 0);
  });

  it('then the recipient: an invalid one is a rejected status, no token taken', async (t) => {
    const d = await domain(t, { limitMsgSend: 1 });
    const sender = new FakeSender();
    const cases: Array<[unknown, string]> = [
      ['nope', 'nope'],
      [undefined, ''],
      [42, '42'],
      ['bob', 'bob'],
      ['ab'.repeat(31), 'ab'.repeat(31)],
    ];
    for (const [to] of cases)
      await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: 'x', id: 'c' });
    assert.deepEqual(
      sender.statuses.items,
      cases.map(([, target]) => status('c', target, 'rejected', 'invalid_recipient')),
    );
    const [to, e] = await online(d);
    await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: 'x' });
    assert.equal(e.pushed.length, 1, 'the one token was still there');
  });

  it('then the envelope: not a string is thrown, too large is a status', async (t) => {
    const d = await domain(t);
    const [to, e] = await online(d);
    const sender = new FakeSender();
    for (const envelope of [undefined, 5, { a: 1 }, null])
      await refused(
        () => d.relay.jsonFrame(sender, { type: 'relay', to, envelope }),
        'invalid_message',
      );
    const tooLarge = 'é'.repeat(MAX_ENVELOPE / 2) + 'x'; // counted in bytes, not characters
    await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: tooLarge, id: 'big' });
    assert.deepEqual(sender.statuses.items, [status('big', to, 'rejected', 'too_large')]);
    await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: 'x'.repeat(MAX_ENVELOPE) });
    assert.equal(e.pushed.length, 1, 'exactly 256 KiB is accepted');
  });

  it("the sender's bucket: a rejected status and a thrown rate_limited", async (t) => {
    const d = await domain(t, { limitMsgSend: 2 });
    const [to, e] = await online(d);
    const sender = new FakeSender();
    await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: '1' });
    await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: '2' });
    const error = await refused(
      () => d.relay.jsonFrame(sender, { type: 'relay', to, envelope: '3', id: 'c3' }),
      'rate_limited',
    );
    assert.ok((error.retryAfterS ?? 0) >= 1);
    assert.deepEqual(sender.statuses.items, [
      status('c3', to, 'rejected', 'rate_limited', error.retryAfterS),
    ]);
    assert.equal(e.pushed.length, 2);
  });

  it("the recipient's bucket: a rejected status only, other recipients unaffected", async (t) => {
    const d = await domain(t, { limitMsgReceive: 1 });
    const to = await offline(d);
    const sender = new FakeSender();
    await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: '1', id: 'a' });
    await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: '2', id: 'b' });
    const other = await offline(d);
    await d.relay.jsonFrame(sender, { type: 'relay', to: other, envelope: '3', id: 'c' });
    const [, second] = sender.statuses.items;
    assert.equal(second?.reason, 'rate_limited');
    assert.deepEqual(sender.statuses.items, [
      status('a', to, 'queued'),
      status('b', to, 'rejected', 'rate_limited', second?.retry_after as number),
      status('c', other, 'queued'),
    ]);
  });

  it('an identity nobody registered: rejected invalid_recipient, nothing stored', async (t) => {
    const d = await domain(t);
    const to = newHash();
    const sender = new FakeSender();
    await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: 'x', id: 'c' });
    assert.deepEqual(sender.statuses.items, [status('c', to, 'rejected', 'invalid_recipient')]);
    assert.deepEqual(await d.store.queued(to), []);
  });

  it('the bytes a sender queues are charged to its IP: refused as rate_limited', async (t) => {
    const d = await domain(t, { limitQueueBytes: 1024 });
    const to = await offline(d);
    const [live, e] = await online(d);
    const sender = new FakeSender();
    await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: 'x'.repeat(900), id: 'a' });
    await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: 'x'.repeat(900), id: 'b' });
    await d.relay.jsonFrame(sender, {
      type: 'relay',
      to: live,
      envelope: 'x'.repeat(900),
      id: 'c',
    });
    const sameIp = new FakeSender(newHash(), sender.ipKey);
    await d.relay.jsonFrame(sameIp, { type: 'relay', to, envelope: 'x'.repeat(900), id: 'd' });
    const otherIp = new FakeSender(newHash(), '192.0.2.1');
    await d.relay.jsonFrame(otherIp, { type: 'relay', to, envelope: 'x'.repeat(900), id: 'e' });
    assert.deepEqual(sender.statuses.items, [
      status('a', to, 'queued'),
      status('b', to, 'rejected', 'rate_limited'),
    ]);
    assert.equal(e.pushed.length, 1, 'live delivery is not charged');
    assert.deepEqual(sameIp.statuses.items, [status('d', to, 'rejected', 'rate_limited')]);
    assert.deepEqual(otherIp.statuses.items, [status('e', to, 'queued')]);
  });

  it('a message larger than the whole queued-bytes budget: rejected too_large, not rate_limited', async (t) => {
    const d = await domain(t, { limitQueueBytes: 1024 });
    const to = await offline(d);
    const sender = new FakeSender();
    await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: 'x'.repeat(2000), id: 'big' });
    await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: 'x'.repeat(900), id: 'fits' });
    assert.deepEqual(sender.statuses.items, [
      status('big', to, 'rejected', 'too_large'),
      status('fits', to, 'queued'),
    ]);
    assert.equal((await d.store.queued(to)).length, 1);
  });

  it('a store that cannot be asked: rejected storage_unavailable, nothing thrown', async (t) => {
    const d = await domain(t);
    const to = await offline(d);
    await d.store.close();
    const sender = new FakeSender();
    await d.relay.jsonFrame(sender, { type: 'relay', to, envelope: 'x', id: 'c' });
    assert.deepEqual(sender.statuses.items, [status('c', to, 'rejected', 'storage_unavailable')]);
  });
});

describe('binary frames', () => {
  const frame = (to: string, payload: Buffer) =>
    Buffer.concat([Buffer.from(to, 'latin1'), payload]);

  it('delivers the payload bytes; the status carries the server id', async (t) => {
    const d = await domain(t);
    const [to, e] = await online(d);
    const sender = new FakeSender();
    const payload = Buffer.from([0, 1, 2, 255]);
    await d.relay.binaryFrame(sender, frame(to.toUpperCase(), payload));
    assert.deepEqual(e.values, [{ binary: '000102ff' }]);
    writeAll(d, e);
    const [s] = sender.statuses.items;
    assert.match(String(s?.id), UUID);
    assert.deepEqual(sender.statuses.items, [status(s?.id, to, 'delivered')]);
  });

  it('offline: queued, drained as binary_payload', async (t) => {
    const d = await domain(t);
    const to = await offline(d);
    const sender = new FakeSender();
    await d.relay.binaryFrame(sender, frame(to, Buffer.from('hi')));
    assert.equal(sender.statuses.items[0]?.status, 'queued');
    const [, e] = await online(d, to);
    assert.deepEqual((e.values[0] as Json).payload, {
      type: 'binary_payload',
      data_hex: Buffer.from('hi').toString('hex'),
    });
  });

  it('no payload is thrown; a bad recipient and a payload too large are statuses', async (t) => {
    const d = await domain(t, { compat: 'v1' });
    const [to, e] = await online(d);
    const sender = new FakeSender();
    await refused(() => d.relay.binaryFrame(sender, Buffer.from(to)), 'invalid_message');
    await refused(() => d.relay.binaryFrame(sender, Buffer.alloc(10)), 'invalid_message');
    const legacy = 'x'.repeat(64); // a legacy name: binary frames take hashes only, even in v1
    await d.relay.binaryFrame(sender, frame(legacy, Buffer.from('p')));
    await d.relay.binaryFrame(sender, frame('z'.repeat(64), Buffer.from('p')));
    await d.relay.binaryFrame(sender, frame(to, Buffer.alloc(MAX_ENVELOPE + 1)));
    assert.deepEqual(sender.statuses.items, [
      status(null, legacy, 'rejected', 'invalid_recipient'),
      status(null, 'z'.repeat(64), 'rejected', 'invalid_recipient'),
      status(null, to, 'rejected', 'too_large'),
    ]);
    await d.relay.binaryFrame(sender, frame(to, Buffer.alloc(MAX_ENVELOPE)));
    assert.equal(e.pushed.length, 1, 'exactly 256 KiB is accepted');
  });

  it("the sender's bucket: a rejected status (no id) and a thrown rate_limited", async (t) => {
    const d = await domain(t, { limitMsgSend: 1 });
    const [to] = await online(d);
    const sender = new FakeSender();
    await d.relay.binaryFrame(sender, frame(to, Buffer.from('1')));
    const error = await refused(
      () => d.relay.binaryFrame(sender, frame(to, Buffer.from('2'))),
      'rate_limited',
    );
    assert.deepEqual(sender.statuses.items, [
      status(null, to, 'rejected', 'rate_limited', error.retryAfterS),
    ]);
  });
});

describe('volatile_relay', () => {
  it('live only: the body as a binary frame, no status; dropped when offline', async (t) => {
    const d = await domain(t);
    const [to, e] = await online(d);
    const away = await offline(d);
    const sender = new FakeSender();
    await d.relay.jsonFrame(sender, { type: 'volatile_relay', to, body: 'tippt…' });
    await d.relay.jsonFrame(sender, { type: 'volatile_relay', to: away, body: 'x' });
    assert.deepEqual(e.values, [{ binary: Buffer.from('tippt…').toString('hex') }]);
    assert.deepEqual(e.carried, []);
    assert.deepEqual(await d.store.queued(away), []);
    assert.equal(sender.statuses.length, 0);
  });

  it('a bad recipient or body, or a body too large, is thrown', async (t) => {
    const d = await domain(t);
    const [to, e] = await online(d);
    const sender = new FakeSender();
    for (const frame of [{ to: 'nope', body: 'x' }, { body: 'x' }, { to, body: 5 }, { to }])
      await refused(
        () => d.relay.jsonFrame(sender, { type: 'volatile_relay', ...frame }),
        'invalid_message',
      );
    const tooLarge = { type: 'volatile_relay', to, body: 'x'.repeat(MAX_ENVELOPE + 1) };
    await refused(() => d.relay.jsonFrame(sender, tooLarge), 'message_too_large');
    assert.equal(e.pushed.length, 0);
  });

  it("takes a token of the sender's bucket: thrown when refused, no status", async (t) => {
    const d = await domain(t, { limitMsgSend: 1 });
    const [to, e] = await online(d);
    const sender = new FakeSender();
    await d.relay.jsonFrame(sender, { type: 'volatile_relay', to, body: 'a' });
    await refused(
      () => d.relay.jsonFrame(sender, { type: 'volatile_relay', to, body: 'b' }),
      'rate_limited',
    );
    assert.equal(e.pushed.length, 1);
    assert.equal(sender.statuses.length, 0);
  });
});

describe('group_multicast', () => {
  it('one sealed_message and one status per target, under the client id', async (t) => {
    const d = await domain(t);
    const [here, e] = await online(d);
    const away = await offline(d);
    const unknown = newHash();
    const sender = new FakeSender();
    await d.relay.jsonFrame(sender, {
      type: 'group_multicast',
      id: 'g1',
      targets: [
        { to: here, body: { k: 1 }, msg_type: 'text' },
        { to: away, body: null },
        { to: unknown, body: 'x' },
      ],
    });
    const [sealed] = e.values as Json[];
    assert.match(String(sealed?.id), UUID);
    assert.equal(
      JSON.stringify(sealed),
      `{"type":"sealed_message","body":{"k":1},"msg_type":"text","id":"${String(sealed?.id)}"}`,
    );
    writeAll(d, e);
    assert.deepEqual(sender.statuses.items, [
      status('g1', away, 'queued'),
      status('g1', unknown, 'rejected', 'invalid_recipient'),
      status('g1', here, 'delivered'),
    ]);
  });

  it('without a client id each status carries its target’s server id', async (t) => {
    const d = await domain(t);
    const [a, ea] = await online(d);
    const [b, eb] = await online(d);
    const sender = new FakeSender();
    await d.relay.jsonFrame(sender, {
      type: 'group_multicast',
      targets: [
        { to: a, body: 1 },
        { to: b, body: 2 },
      ],
    });
    writeAll(d, ea);
    writeAll(d, eb);
    const ids = [ea, eb].map((e) => (e.values[0] as Json).id);
    assert.notEqual(ids[0], ids[1]);
    assert.deepEqual(sender.statuses.items, [
      status(ids[0], a, 'delivered'),
      status(ids[1], b, 'delivered'),
    ]);
  });

  it('any bad target refuses the whole frame before anything is sent', async (t) => {
    const d = await domain(t);
    const [to, e] = await online(d);
    const sender = new FakeSender();
    const targets: unknown[] = [
      undefined,
      'x',
      [],
      Array.from({ length: 101 }, () => ({ to, body: 1 })),
      [
        { to, body: 1 },
        { to: 'nope', body: 1 },
      ],
      [{ to, body: 1 }, { to }],
      [{ to, body: 1 }, null],
      [{ to, body: 1 }, 'x'],
    ];
    for (const t of targets)
      await refused(
        () => d.relay.jsonFrame(sender, { type: 'group_multicast', targets: t }),
        'invalid_message',
      );
    assert.equal(e.pushed.length, 0);
    assert.equal(sender.statuses.length, 0);
    const hundred = Array.from({ length: 100 }, () => ({ to, body: 1 }));
    await d.relay.jsonFrame(sender, { type: 'group_multicast', targets: hundred });
    assert.equal(e.pushed.length, 100);
  });

  it('costs one token per target: too many is thrown before any is sent', async (t) => {
    const d = await domain(t, { limitMsgSend: 3 });
    const [to, e] = await online(d);
    const sender = new FakeSender();
    const targets = (n: number) => Array.from({ length: n }, () => ({ to, body: 1 }));
    // More targets than the whole bucket: never sendable, so no retry_after (it used to say 1).
    const never = await refused(
      () => d.relay.jsonFrame(sender, { type: 'group_multicast', targets: targets(4) }),
      'message_too_large',
    );
    assert.equal(never.retryAfterS, undefined);
    assert.equal(e.pushed.length, 0);
    await d.relay.jsonFrame(sender, { type: 'group_multicast', targets: targets(2) });
    assert.equal(e.pushed.length, 2);
    // Two more than the one token left: later, so rate_limited with the time to wait.
    const later = await refused(
      () => d.relay.jsonFrame(sender, { type: 'group_multicast', targets: targets(2) }),
      'rate_limited',
    );
    assert.ok(later.retryAfterS! >= 1);
    assert.equal(e.pushed.length, 2);
  });

  it("a recipient's refusal rejects that target only", async (t) => {
    const d = await domain(t, { limitMsgReceive: 1 });
    const [a, ea] = await online(d);
    const [b, eb] = await online(d);
    const sender = new FakeSender();
    await d.relay.jsonFrame(sender, { type: 'relay', to: a, envelope: 'spends a' });
    await d.relay.jsonFrame(sender, {
      type: 'group_multicast',
      id: 'g',
      targets: [
        { to: a, body: 1 },
        { to: b, body: 2 },
      ],
    });
    assert.equal(ea.pushed.length, 1);
    assert.equal(eb.pushed.length, 1);
    const [refusal] = sender.statuses.items;
    assert.deepEqual(
      refusal,
      status('g', a, 'rejected', 'rate_limited', refusal?.retry_after as number),
    );
  });
});

describe('typed relays', () => {
  it('keep the type and the allowed fields only; never a sender', async (t) => {
    const d = await domain(t);
    const [to, e] = await online(d);
    const sender = new FakeSender();
    await d.relay.jsonFrame(sender, {
      type: 'chat',
      to,
      id: 'c1',
      body: 'hi',
      sender: 'mallory',
      from: sender.identity,
      identity_hash: sender.identity,
    });
    assert.equal(JSON.stringify(e.values[0]), '{"type":"chat","body":"hi","id":"c1"}');
    writeAll(d, e);
    assert.deepEqual(sender.statuses.items, [status('c1', to, 'delivered')]);
  });

  it('frame types only the server sends are refused, not relayed', async (t) => {
    const d = await domain(t);
    const [to, e] = await online(d);
    const sender = new FakeSender();
    for (const type of [
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
    ])
      await refused(() => d.relay.jsonFrame(sender, { type, to, body: 'x' }), 'invalid_message');
    assert.equal(e.pushed.length, 0);
  });

  it('a type without a `to` is unknown; subscribe_alias is one outside compat mode', async (t) => {
    const d = await domain(t);
    const sender = new FakeSender();
    for (const frame of [{ type: 'chat' }, { type: 'subscribe_alias', payload: { alias: 'bob' } }])
      await refused(() => d.relay.jsonFrame(sender, frame), 'invalid_message');
  });

  it('a bad recipient and a frame too large are statuses', async (t) => {
    const d = await domain(t);
    const [to, e] = await online(d);
    const sender = new FakeSender();
    await d.relay.jsonFrame(sender, { type: 'chat', to: 'nope', id: 'a' });
    await d.relay.jsonFrame(sender, { type: 'chat', to: null, id: 'b' });
    await d.relay.jsonFrame(sender, { type: 'chat', to, id: 'c', body: 'x'.repeat(MAX_ENVELOPE) });
    assert.deepEqual(sender.statuses.items, [
      status('a', 'nope', 'rejected', 'invalid_recipient'),
      status('b', 'null', 'rejected', 'invalid_recipient'),
      status('c', to, 'rejected', 'too_large'),
    ]);
    assert.equal(e.pushed.length, 0);
  });

  it('the size limit counts the bytes of the frame, not its characters', async (t) => {
    const d = await domain(t);
    const [to, e] = await online(d);
    const sender = new FakeSender();
    // Fewer than 256 Ki characters, more than 256 KiB in UTF-8 (é is two bytes).
    const body = 'é'.repeat(MAX_ENVELOPE / 2);
    await d.relay.jsonFrame(sender, { type: 'chat', to, id: 'wide', body });
    assert.deepEqual(sender.statuses.items, [status('wide', to, 'rejected', 'too_large')]);
    // The same number of bytes as characters, within the limit: relayed.
    await d.relay.jsonFrame(sender, {
      type: 'chat',
      to,
      id: 'narrow',
      body: 'x'.repeat(MAX_ENVELOPE - 200),
    });
    assert.equal(e.pushed.length, 1);
  });
});

describe('ack', () => {
  it("removes the named items from the sender's own queue", async (t) => {
    const d = await domain(t);
    const sender = new FakeSender();
    await withBundleIn(d.store, sender.identity);
    const other = new FakeSender();
    for (const envelope of ['a', 'b'])
      await d.relay.jsonFrame(other, { type: 'relay', to: sender.identity, envelope });
    const ids = (await d.store.queued(sender.identity)).map((i) => i.id);
    await d.relay.jsonFrame(sender, { type: 'ack', ids: [ids[0], 'unknown'] });
    assert.deepEqual(
      (await d.store.queued(sender.identity)).map((i) => i.id),
      [ids[1]],
    );
    await d.relay.jsonFrame(other, { type: 'ack', ids: [ids[1]] });
    assert.equal((await d.store.queued(sender.identity)).length, 1, 'only its own queue');
    await d.relay.jsonFrame(sender, { type: 'ack', ids: Array.from({ length: 1000 }, String) });
  });

  it('ids must be a list of at most 1000 strings', async (t) => {
    const d = await domain(t);
    const sender = new FakeSender();
    for (const ids of [undefined, 'a', [1], ['a', null], Array.from({ length: 1001 }, String)])
      await refused(() => d.relay.jsonFrame(sender, { type: 'ack', ids }), 'invalid_message');
  });
});

describe('subscribe_alias (compat mode)', () => {
  async function compat(t: TestContext) {
    return domain(t, { compat: 'v1', powBase: 2 });
  }

  /** A valid subscribe_alias frame for `alias`. */
  async function subscribe(d: Domain, alias: unknown): Promise<Json> {
    const { seed, difficulty } = await d.pow.issue({ type: 'auth' });
    const nonce = solveExactly(seed, String(alias), difficulty);
    return { type: 'subscribe_alias', payload: { alias, seed, nonce } };
  }

  it('after a valid PoW: alias_subscribed, then what was queued for it', async (t) => {
    const d = await compat(t);
    const sender = new FakeSender();
    await d.relay.jsonFrame(new FakeSender(), { type: 'relay', to: 'bob', envelope: 'early' });
    await d.relay.jsonFrame(sender, await subscribe(d, 'bob'));
    assert.deepEqual(sender.controls.items, [{ type: 'alias_subscribed', alias: 'bob' }]);
    assert.ok(sender.aliases.has('bob'));
    assert.equal((sender.values[0] as Json).type, 'queued_message');
    await d.relay.jsonFrame(new FakeSender(), { type: 'relay', to: 'bob', envelope: 'late' });
    assert.equal((sender.values[1] as Json).envelope, 'late');
  });

  it('refuses an identity hash, a bad name and a bad PoW', async (t) => {
    const d = await compat(t);
    const sender = new FakeSender();
    for (const alias of [newHash(), 'b o b', '', 'x'.repeat(65), 5]) {
      const bad = await subscribe(d, alias);
      await refused(() => d.relay.jsonFrame(sender, bad), 'invalid_message');
    }
    const frame = await subscribe(d, 'bob');
    (frame.payload as Json).nonce = 'not-a-solution';
    await refused(() => d.relay.jsonFrame(sender, frame), 'pow_invalid');
    assert.equal(sender.aliases.size, 0);
  });

  it('an alias another session holds is alias_taken', async (t) => {
    const d = await compat(t);
    const [holder, other] = [new FakeSender(), new FakeSender()];
    await d.relay.jsonFrame(holder, await subscribe(d, 'bob'));
    const taken = await subscribe(d, 'bob');
    await refused(() => d.relay.jsonFrame(other, taken), 'alias_taken');
    assert.equal(other.aliases.size, 0);
    await d.relay.jsonFrame(holder, await subscribe(d, 'bob')); // its own again: fine
  });

  it('at most 50 per session; an alias it has already still passes', async (t) => {
    const d = await compat(t);
    const sender = new FakeSender();
    for (let i = 0; i < 50; i++) sender.aliases.add(`a${i}`);
    const oneMore = await subscribe(d, 'a50');
    await refused(() => d.relay.jsonFrame(sender, oneMore), 'alias_limit');
    await d.relay.jsonFrame(sender, await subscribe(d, 'a0'));
    assert.equal(sender.aliases.size, 50);
  });

  it('a session closed meanwhile registers nothing', async (t) => {
    const d = await compat(t);
    const sender = new FakeSender();
    const frame = await subscribe(d, 'bob');
    sender.authenticated = false;
    await d.relay.jsonFrame(sender, frame);
    assert.equal(sender.aliases.size, 0);
    assert.equal(d.router.requiresBundle('bob'), false);
    const other = new FakeSender();
    await d.relay.jsonFrame(other, await subscribe(d, 'bob'));
    assert.ok(other.aliases.has('bob'), 'the alias is free');
  });
});

describe('relay across instances: admission where the recipient is', () => {
  /** Two instances on one store (they offer messages to each other). */
  async function pair(t: TestContext, overrides: Partial<Config> = {}) {
    const a = await startDomain(overrides, { acrossInstances: true });
    const b = await startDomain(overrides, { store: a.store, acrossInstances: true });
    t.after(() => Promise.all([a.stop(), b.stop()]));
    return [a, b] as const;
  }

  it('an online recipient elsewhere: its bucket there decides; no key bundle needed', async (t) => {
    const [a, b] = await pair(t, { limitMsgReceive: 2 });
    const [to, e] = await online(b);
    const sender = new FakeSender();
    for (const id of ['c1', 'c2', 'c3'])
      await a.relay.jsonFrame(sender, { type: 'relay', to, envelope: id, id });
    await e.pushed.reach(2, 'two offers written on b');
    writeAll(b, e);
    const statuses = await sender.statuses.reach(3, 'three statuses');
    assert.deepEqual(
      statuses.map((s) => `${String(s.id)}:${String(s.status)}:${String(s.reason ?? '')}`).sort(),
      ['c1:delivered:', 'c2:delivered:', 'c3:rejected:rate_limited'],
    );
    assert.equal(e.pushed.length, 2, 'the refused one was not written');
    assert.deepEqual(await a.store.queued(to), []);
  });

  it('nobody online: admitted here as a queued message (bundle, bucket), then queued', async (t) => {
    const [a] = await pair(t, { limitMsgReceive: 1 });
    const sender = new FakeSender();
    const nobody = newHash();
    await a.relay.jsonFrame(sender, { type: 'relay', to: nobody, envelope: 'x', id: 'n1' });
    const to = await offline(a);
    for (const id of ['q1', 'q2'])
      await a.relay.jsonFrame(sender, { type: 'relay', to, envelope: id, id });
    const statuses = await sender.statuses.reach(3, 'three statuses');
    assert.deepEqual(statuses[0], status('n1', nobody, 'rejected', 'invalid_recipient'));
    assert.deepEqual(statuses[1], status('q1', to, 'queued'));
    assert.equal(statuses[2]?.reason, 'rate_limited');
    assert.equal((await a.store.queued(to)).length, 1);
    assert.deepEqual(await a.store.queued(nobody), [], 'nothing stored for a hash nobody holds');
  });
});
