// The WebSocket protocol of docs/protocol.md §4 over real TLS sockets, frame by frame with a raw
// peer: pre-auth rules, authentication, relaying, and every bad input with its exact answer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateIdentity, signMessage } from '../src/client/identity.js';
import { solvePow } from '../src/client/pow-solver.js';
import { RelayClient } from '../src/client/rest-client.js';
import { PADDED_SIZE } from '../src/normalize/padding.js';
import { assertPadded } from './helpers/padding.js';
import { authedPeer, powAuthPayload, RawPeer, withBundle } from './helpers/ws.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';

const FAST = {
  jitterMs: [0, 2] as [number, number],
  limitMsgSend: 5000,
  limitMsgReceive: 5000,
  limitWsFrames: 5000,
  powLimit: 10_000,
  limitGlobal: 10_000,
};

function assertAllPadded(peer: RawPeer): void {
  for (const r of peer.received) assertPadded(r, `frame ${JSON.stringify(r.json)}`);
}

describe('WebSocket: before authentication', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ ...FAST, authTimeoutMs: 1500 });
  });
  after(() => t.close());

  it('answers ping and dummies with dummy_ack and ignores an auth without payload', async () => {
    // Solved before the socket opens: solving must not eat into the 1.5 s auth timeout.
    const identity = generateIdentity();
    const payload = await powAuthPayload(t.relay, identity);
    const peer = await RawPeer.open(t.relay);
    peer.send({ type: 'auth' });
    peer.send({ type: 'ping', timestamp: 5 });
    assert.equal((await peer.next()).json.type, 'dummy_ack');
    peer.send({ type: 'dummy' });
    peer.send({ type: 'dummy_pacing' });
    assert.equal((await peer.next()).json.type, 'dummy_ack');
    assert.equal((await peer.next()).json.type, 'dummy_ack');
    // The socket is still usable for auth.
    peer.send({ type: 'auth', payload });
    assert.equal((await peer.next()).json.type, 'auth_success');
    assertAllPadded(peer);
    await peer.close();
  });

  it('answers garbage with invalid_message and keeps the socket open', async () => {
    const peer = await RawPeer.open(t.relay);
    for (const garbage of ['not json', '[1,2]', '{"type":5}', '{"no":"type"}', 'null']) {
      peer.send(garbage);
      assert.equal((await peer.next()).json.code, 'invalid_message', garbage);
    }
    peer.send({ type: 'ping' });
    assert.equal((await peer.next()).json.type, 'dummy_ack');
    await peer.close();
  });

  it('closes with auth_required (4001) on a relay before auth', async () => {
    const peer = await RawPeer.open(t.relay);
    peer.send({ type: 'relay', to: 'a'.repeat(64), envelope: 'x' });
    assert.equal((await peer.next()).json.code, 'auth_required');
    assert.equal((await peer.closed).code, 4001);
  });

  it('closes a binary frame before auth with auth_required', async () => {
    const peer = await RawPeer.open(t.relay);
    peer.send(Buffer.alloc(100, 0x61));
    assert.equal((await peer.next()).json.code, 'auth_required');
    assert.equal((await peer.closed).code, 4001);
  });

  it('closes a socket that does not authenticate in time with auth_timeout', async () => {
    const peer = await RawPeer.open(t.relay);
    assert.equal((await peer.next()).json.code, 'auth_timeout');
    assert.equal((await peer.closed).code, 4001);
  });

  it('upgrades on / too, and refuses other paths with a padded 404', async () => {
    const peer = await RawPeer.open(t.relay, { path: '/' });
    peer.send({ type: 'ping' });
    assert.equal((await peer.next()).json.type, 'dummy_ack');
    await peer.close();
    await assert.rejects(RawPeer.open(t.relay, { path: '/other' }), /404/);
  });

  it('declines permessage-deflate', async () => {
    const WebSocket = (await import('ws')).default;
    const ws = new WebSocket(t.relay.url.replace('https', 'wss') + '/ws', {
      ca: t.relay.tls!.cert,
      perMessageDeflate: true,
    });
    await new Promise((resolve) => ws.once('open', resolve));
    assert.equal(ws.extensions, '');
    ws.close();
  });
});

describe('WebSocket: authentication', () => {
  let t: TestRelay;
  let client: RelayClient;
  before(async () => {
    t = await startTestRelay({ ...FAST, sessionTtlS: 2 });
    client = new RelayClient({ url: t.relay.url, ca: t.relay.tls!.cert });
  });
  after(() => t.close());

  async function authFails(payload: Record<string, unknown>, message?: RegExp): Promise<void> {
    const peer = await RawPeer.open(t.relay);
    peer.send({ type: 'auth', payload });
    const error = (await peer.next()).json;
    assert.equal(error.type, 'error');
    assert.equal(error.code, 'auth_failed');
    if (message) assert.match(error.message, message);
    assert.equal((await peer.closed).code, 4001);
  }

  it('authenticates by PoW + signature, reports keys, then by token', async () => {
    const me = generateIdentity();
    const { peer, success } = await authedPeer(t.relay, me);
    assert.equal(success.identity_hash, me.identityHash);
    assert.equal(success.keys_missing, true);
    assert.equal(success.prekeys, 0);
    assert.match(success.session_token, /^[A-Za-z0-9_-]{43}$/);
    peer.send({
      type: 'auth',
      payload: { identity_hash: me.identityHash, session_token: success.session_token },
    });
    assert.equal((await peer.next()).json.code, 'already_authenticated');
    await peer.close();

    await client.uploadBundle(me, { preKeys: 4 });
    const again = await RawPeer.open(t.relay);
    again.send({
      type: 'auth',
      payload: {
        identity_hash: me.identityHash.toUpperCase(),
        session_token: success.session_token,
      },
    });
    const second = (await again.next()).json;
    assert.equal(second.type, 'auth_success');
    assert.equal(second.keys_missing, false);
    assert.equal(second.prekeys, 4);
    assert.notEqual(second.session_token, success.session_token);
    await again.close();
  });

  it('takes the key from the stored bundle when public_key is omitted', async () => {
    const me = generateIdentity();
    await client.uploadBundle(me, { preKeys: 1 });
    const payload = await powAuthPayload(t.relay, me);
    delete payload.public_key;
    const peer = await RawPeer.open(t.relay);
    peer.send({ type: 'auth', payload });
    assert.equal((await peer.next()).json.type, 'auth_success');
    await peer.close();
  });

  it('refuses wrong PoW, replayed PoW, foreign signatures and keys, and bad hashes', async () => {
    const me = generateIdentity();
    const other = generateIdentity();
    const good = await powAuthPayload(t.relay, me);
    await authFails({ ...good, nonce: 'x' });
    await authFails({ ...good, seed: 'ab'.repeat(32) });
    await authFails({
      ...good,
      signature: signMessage(other, `AUTH:${me.identityHash}:${good.seed}`),
    });
    await authFails(
      { ...(await powAuthPayload(t.relay, me)), public_key: other.publicKey.toString('base64') },
      /mismatch/,
    );
    await authFails(
      { ...(await powAuthPayload(t.relay, me)), signature: undefined, public_key: undefined },
      /public_key/,
    );
    await authFails({ ...good, identity_hash: 'legacy_name' });
    await authFails({ ...good, identity_hash: me.identityHash.slice(1) });
    // A valid solution is spent by its first use, even when the auth then failed.
    const fresh = await powAuthPayload(t.relay, me);
    await authFails({ ...fresh, signature: signMessage(other, 'x') });
    await authFails(fresh, /used/);
  });

  it('refuses a token of another identity and an expired token', async () => {
    const me = generateIdentity();
    const other = generateIdentity();
    const { peer, success } = await authedPeer(t.relay, me);
    await peer.close();
    await authFails({ identity_hash: other.identityHash, session_token: success.session_token });
    await authFails({ identity_hash: me.identityHash, session_token: 'forged' });
    await new Promise((resolve) => setTimeout(resolve, 2200)); // outlives the 2 s token TTL
    await authFails(
      { identity_hash: me.identityHash, session_token: success.session_token },
      /expired/,
    );
  });

  it('keeps one live session per identity: the older one gets session_replaced', async () => {
    const me = generateIdentity();
    const first = await authedPeer(t.relay, me);
    const second = await authedPeer(t.relay, me);
    assert.equal((await first.peer.nextOfType('error')).code, 'session_replaced');
    assert.equal((await first.peer.closed).code, 4002);
    second.peer.send({ type: 'ping' });
    assert.equal((await second.peer.next()).json.type, 'dummy_ack');
    await second.peer.close();
  });
});

describe('WebSocket: relaying and bad input', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ ...FAST, queueMax: 3 });
  });
  after(() => t.close());

  it('relays msg, binary, volatile, multicast and typed frames without a sender', async () => {
    const alice = generateIdentity();
    const bob = generateIdentity();
    const carol = generateIdentity();
    await withBundle(t.relay, carol);
    const a = await authedPeer(t.relay, alice);
    const b = await authedPeer(t.relay, bob);

    a.peer.send({ type: 'relay', to: bob.identityHash, envelope: 'sealed-1', id: 'c-1' });
    const msg = await b.peer.nextOfType('msg');
    assert.equal(msg.envelope, 'sealed-1');
    assert.deepEqual(Object.keys(msg).sort(), ['envelope', 'id', 'type']);
    const status = await a.peer.nextOfType('delivery_status');
    assert.deepEqual(status, {
      type: 'delivery_status',
      id: 'c-1',
      target: bob.identityHash,
      status: 'delivered',
    });

    a.peer.send(
      Buffer.concat([Buffer.from(bob.identityHash.toUpperCase()), Buffer.from('raw-bytes')]),
    );
    const bin = await b.peer.next((r) => r.binary !== undefined);
    assert.equal(bin.length, PADDED_SIZE);
    assert.equal(bin.binary!.subarray(0, 9).toString(), 'raw-bytes');
    assert.ok(bin.binary!.subarray(9).every((byte) => byte === 0));
    assert.equal((await a.peer.nextOfType('delivery_status')).status, 'delivered');

    a.peer.send({ type: 'volatile_relay', to: bob.identityHash, body: 'typing' });
    const vol = await b.peer.next((r) => r.binary !== undefined);
    assert.equal(vol.binary!.subarray(0, 6).toString(), 'typing');

    a.peer.send({
      type: 'group_multicast',
      id: 'g-1',
      targets: [
        { to: bob.identityHash, body: { x: 1 }, msg_type: 'group' },
        { to: carol.identityHash, body: 'offline' },
      ],
    });
    const sealed = await b.peer.nextOfType('sealed_message');
    assert.deepEqual(sealed.body, { x: 1 });
    assert.equal(sealed.msg_type, 'group');
    const statuses = [
      await a.peer.nextOfType('delivery_status'),
      await a.peer.nextOfType('delivery_status'),
    ];
    assert.deepEqual(
      statuses
        .map((s) => `${s.target === carol.identityHash ? 'carol' : 'bob'}:${s.status}`)
        .sort(),
      ['bob:delivered', 'carol:queued'],
    );

    a.peer.send({
      type: 'chat',
      to: bob.identityHash,
      body: 'hi',
      from: alice.identityHash,
      sender: 'alice',
      fragmentId: 'f',
      index: 0,
      total: 1,
    });
    const chat = await b.peer.nextOfType('chat');
    assert.deepEqual(chat, { type: 'chat', fragmentId: 'f', index: 0, total: 1, body: 'hi' });

    // Sealed sender: nothing Bob received names Alice.
    for (const r of b.peer.received) {
      const text = r.json ? JSON.stringify(r.json) : r.binary!.toString('latin1');
      assert.ok(!text.includes(alice.identityHash), `sender leaked in ${text.slice(0, 80)}`);
    }
    assertAllPadded(a.peer);
    assertAllPadded(b.peer);

    // Carol gets the multicast from her queue when she connects.
    const c = await authedPeer(t.relay, carol);
    const queued = await c.peer.nextOfType('queued_message');
    assert.equal(queued.payload.type, 'sealed_message');
    assert.equal(queued.payload.body, 'offline');
    await Promise.all([a.peer.close(), b.peer.close(), c.peer.close()]);
  });

  it('answers bad relays with the right code and queues nothing', async () => {
    const alice = generateIdentity();
    const nobody = generateIdentity();
    const a = await authedPeer(t.relay, alice);
    const expectStatus = async (frame: unknown, reason: string) => {
      a.peer.send(frame);
      const s = await a.peer.nextOfType('delivery_status');
      assert.equal(s.status, 'rejected');
      assert.equal(s.reason, reason);
    };
    const expectError = async (frame: unknown, code: string, message?: RegExp) => {
      a.peer.send(frame);
      const e = await a.peer.nextOfType('error');
      assert.equal(e.code, code);
      if (message) assert.match(e.message, message);
    };
    await expectStatus({ type: 'relay', to: 'xyz', envelope: 'e', id: '1' }, 'invalid_recipient');
    await expectStatus(
      { type: 'relay', to: nobody.identityHash.slice(2), envelope: 'e' },
      'invalid_recipient',
    );
    await expectStatus(
      { type: 'relay', to: nobody.identityHash, envelope: 'x'.repeat(256 * 1024 + 1) },
      'too_large',
    );
    await expectError({ type: 'relay', to: nobody.identityHash, envelope: 42 }, 'invalid_message');
    await expectError(
      { type: 'relay', to: nobody.identityHash, envelope: 'e', id: 'x'.repeat(65) },
      'invalid_message',
    );
    await expectError(Buffer.alloc(64, 0x61), 'invalid_message');
    await expectError(
      {
        type: 'group_multicast',
        targets: Array.from({ length: 101 }, () => ({ to: nobody.identityHash, body: 'b' })),
      },
      'invalid_message',
    );
    await expectError(
      { type: 'group_multicast', targets: [{ to: 'bad', body: 'b' }] },
      'invalid_message',
    );
    await expectError({ type: 'frobnicate' }, 'invalid_message');
    // Server-only frame types cannot be relayed as look-alikes.
    for (const type of ['queued_message', 'delivery_status', 'msg', 'error', 'auth_success']) {
      await expectError({ type, to: nobody.identityHash, id: 'x' }, 'invalid_message');
    }
    // Nested more than 64 deep: refused before any handler (String() and JSON.stringify of
    // 10,000 levels overflowed the stack, and the frame went unanswered).
    const deep = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
    for (const frame of [
      `{"type":"relay","to":${deep(10_000)},"envelope":"e"}`,
      `{"type":"chat","to":"${nobody.identityHash}","body":${deep(10_000)}}`,
      `{"type":"chat","to":"${nobody.identityHash}","body":${deep(64)}}`,
    ])
      await expectError(frame, 'invalid_message', /nested at most 64 deep/);
    await expectStatus(
      `{"type":"chat","to":"${nobody.identityHash}","body":${deep(63)}}`,
      'invalid_recipient',
    );
    await expectError({ type: 'ack', ids: 'nope' }, 'invalid_message');
    await expectError({ type: 'subscribe_alias', payload: { alias: 'a' } }, 'invalid_message');
    assert.deepEqual(await t.relay.store.queued(nobody.identityHash), []);
    await a.peer.close();
  });

  it('tells the sender mailbox_full and drops nothing already queued', async () => {
    const alice = generateIdentity();
    const dave = generateIdentity();
    await withBundle(t.relay, dave);
    const a = await authedPeer(t.relay, alice);
    for (let i = 0; i < 4; i++)
      a.peer.send({ type: 'relay', to: dave.identityHash, envelope: `m${i}`, id: `q${i}` });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push(await a.peer.nextOfType('delivery_status'));
    assert.deepEqual(
      statuses.map((s) => `${s.id}:${s.status}:${s.reason ?? ''}`),
      ['q0:queued:', 'q1:queued:', 'q2:queued:', 'q3:rejected:mailbox_full'],
    );
    const queue = await t.relay.store.queued(dave.identityHash);
    assert.deepEqual(
      queue.map((q) => JSON.parse(q.payload).envelope),
      ['m0', 'm1', 'm2'],
    );
    // An ack of unknown ids changes nothing.
    const d = await authedPeer(t.relay, dave, { acks: true });
    for (let i = 0; i < 3; i++) await d.peer.nextOfType('queued_message');
    d.peer.send({ type: 'ack', ids: ['unknown-1', 'unknown-2'] });
    d.peer.send({ type: 'ping' });
    await d.peer.nextOfType('dummy_ack');
    assert.equal((await t.relay.store.queued(dave.identityHash)).length, 3);
    await Promise.all([a.peer.close(), d.peer.close()]);
  });

  it('a msg written to a socket that closes before its client acks it comes back, same id', async () => {
    const alice = generateIdentity();
    const erin = generateIdentity();
    const a = await authedPeer(t.relay, alice);
    const e = await authedPeer(t.relay, erin, { acks: true });
    a.peer.send({ type: 'relay', to: erin.identityHash, envelope: 'read', id: 'r' });
    a.peer.send({ type: 'relay', to: erin.identityHash, envelope: 'unread', id: 'u' });
    const read = await e.peer.nextOfType('msg');
    const unread = await e.peer.nextOfType('msg');
    for (const id of ['r', 'u'])
      assert.equal((await a.peer.nextOfType('delivery_status')).status, 'delivered', id);
    e.peer.send({ type: 'ack', ids: [read.id] });
    e.peer.send({ type: 'ping' });
    await e.peer.nextOfType('dummy_ack');
    await e.peer.close();
    const again = await authedPeer(t.relay, erin, { acks: true });
    const back = await again.peer.nextOfType('queued_message');
    assert.equal(back.id, unread.id);
    assert.deepEqual(back.payload, { type: 'msg', id: unread.id, envelope: 'unread' });
    again.peer.send({ type: 'ack', ids: [unread.id] });
    again.peer.send({ type: 'ping' });
    await again.peer.nextOfType('dummy_ack');
    assert.deepEqual(await t.relay.store.queued(erin.identityHash), []);
    assert.equal(again.peer.received.filter((r) => r.json?.type === 'queued_message').length, 1);
    await Promise.all([a.peer.close(), again.peer.close()]);
  });

  it('a session replaced before it acked: the new one gets the message after auth_success, once', async () => {
    const alice = generateIdentity();
    const erin = generateIdentity();
    const a = await authedPeer(t.relay, alice);
    const old = await authedPeer(t.relay, erin, { acks: true });
    a.peer.send({ type: 'relay', to: erin.identityHash, envelope: 'unread', id: 'u' });
    const m = await old.peer.nextOfType('msg');
    assert.equal((await a.peer.nextOfType('delivery_status')).status, 'delivered');
    // The client moved to another network: a new socket, and the old one never acked.
    const fresh = await authedPeer(t.relay, erin, { acks: true });
    const back = await fresh.peer.nextOfType('queued_message');
    assert.equal(back.id, m.id);
    fresh.peer.send({ type: 'ping' });
    await fresh.peer.nextOfType('dummy_ack');
    const types = fresh.peer.received.map((r) => r.json?.type);
    assert.equal(types[0], 'auth_success', 'nothing before auth_success');
    assert.equal(types.filter((type) => type === 'queued_message').length, 1);
    await Promise.all([a.peer.close(), old.peer.close(), fresh.peer.close()]);
  });

  it('closes a socket whose message is over the limit with 1009', async () => {
    const a = await authedPeer(t.relay, generateIdentity());
    a.peer.send({ type: 'relay', to: 'a'.repeat(64), envelope: 'x'.repeat(1024 * 1024 + 10) });
    assert.equal((await a.peer.closed).code, 1009);
  });
});

describe('WebSocket: rate limits', () => {
  it('refuses frames past the IP frame bucket, then jails and closes with 1008', async () => {
    const t = await startTestRelay({ ...FAST, limitWsFrames: 10, jailSeconds: 60 });
    try {
      const peer = await RawPeer.open(t.relay);
      for (let i = 0; i < 30; i++) peer.send({ type: 'dummy' });
      const limited = await peer.next((r) => r.json?.code === 'rate_limited');
      assert.ok(limited.json.retry_after >= 1);
      assert.equal((await peer.closed).code, 1008);
      // Every refusal says when to come back; the one the socket closes on, the jail's end (the
      // closing frame used to carry no retry_after).
      const refusals = peer.received.filter((r) => r.json?.type === 'error').map((r) => r.json);
      assert.ok(
        refusals.every((e) => e.code === 'rate_limited' && e.retry_after >= 1),
        JSON.stringify(refusals),
      );
      assert.ok(refusals.at(-1).retry_after > 50, JSON.stringify(refusals.at(-1)));
    } finally {
      await t.close();
    }
  });

  it('limits messages per sender identity with rate_limited + retry_after', async () => {
    const t = await startTestRelay({ ...FAST, limitMsgSend: 3, jailSeconds: 60 });
    try {
      const a = await authedPeer(t.relay, generateIdentity());
      const to = await withBundle(t.relay, generateIdentity());
      for (let i = 0; i < 4; i++) a.peer.send({ type: 'relay', to, envelope: 'e', id: `r${i}` });
      const error = await a.peer.nextOfType('error');
      assert.equal(error.code, 'rate_limited');
      assert.ok(error.retry_after >= 1);
      assert.equal((await t.relay.store.queued(to)).length, 3);
      await a.peer.close();
    } finally {
      await t.close();
    }
  });

  it('never jails a recipient: the excess is refused to the sender', async () => {
    const t = await startTestRelay({ ...FAST, limitMsgReceive: 2, queueMax: 100 });
    try {
      const to = await withBundle(t.relay, generateIdentity());
      const a = await authedPeer(t.relay, generateIdentity());
      for (let i = 0; i < 12; i++) a.peer.send({ type: 'relay', to, envelope: 'e', id: `r${i}` });
      const statuses = [];
      for (let i = 0; i < 12; i++) statuses.push(await a.peer.nextOfType('delivery_status'));
      assert.equal(statuses.filter((s) => s.status === 'queued').length, 2);
      assert.ok(
        statuses.filter((s) => s.reason === 'rate_limited').every((s) => s.retry_after <= 10),
      );
      // Another sender can still reach the recipient once the bucket refills (no jail): a token
      // comes back every 5 s, so time has to pass.
      await new Promise((resolve) => setTimeout(resolve, 5100));
      const b = await authedPeer(t.relay, generateIdentity());
      b.peer.send({ type: 'relay', to, envelope: 'e', id: 'late' });
      assert.equal((await b.peer.nextOfType('delivery_status')).status, 'queued');
      await Promise.all([a.peer.close(), b.peer.close()]);
    } finally {
      await t.close();
    }
  });
});

describe('WebSocket: compat v1', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ ...FAST, compat: 'v1' });
  });
  after(() => t.close());

  it('accepts PoW-only auth with a legacy name, ping → pong, and 50 aliases', async () => {
    const client = new RelayClient({ url: t.relay.url, ca: t.relay.tls!.cert });
    const solve = async (context: string) => {
      const { seed, difficulty } = await client.challenge({ type: 'auth' });
      return { seed, nonce: await solvePow(seed, context, difficulty) };
    };
    // Every proof is solved before its socket opens (solving must not eat into the auth timeout).
    const [own, senderProof] = await Promise.all([solve('old_client-1'), solve('sender_x')]);
    const peer = await RawPeer.open(t.relay);
    peer.send({ type: 'ping', timestamp: 1234 });
    assert.deepEqual((await peer.next()).json, { type: 'pong', timestamp: 1234 });
    peer.send({ type: 'auth', payload: { identity_hash: 'old_client-1', ...own } });
    assert.equal((await peer.next()).json.type, 'auth_success');

    const solutions = await Promise.all(Array.from({ length: 51 }, (_, i) => solve(`alias_${i}`)));
    for (let i = 0; i < 50; i++) {
      peer.send({ type: 'subscribe_alias', payload: { alias: `alias_${i}`, ...solutions[i] } });
      assert.deepEqual((await peer.nextOfType('alias_subscribed')).alias, `alias_${i}`);
    }
    peer.send({ type: 'subscribe_alias', payload: { alias: 'alias_50', ...solutions[50] } });
    assert.equal((await peer.nextOfType('error')).message, 'Maximum alias limit reached');
    // An identity hash is never accepted as an alias.
    peer.send({ type: 'subscribe_alias', payload: { alias: 'a'.repeat(64), ...solutions[50] } });
    assert.equal((await peer.nextOfType('error')).code, 'invalid_message');
    peer.send({ type: 'ping', timestamp: 1 });
    assert.equal((await peer.nextOfType('pong')).timestamp, 1);

    // A message to an alias reaches the socket.
    const sender = await RawPeer.open(t.relay);
    sender.send({ type: 'auth', payload: { identity_hash: 'sender_x', ...senderProof } });
    await sender.next();
    sender.send({ type: 'relay', to: 'alias_7', envelope: 'to-alias', id: 'a7' });
    assert.equal((await peer.nextOfType('msg')).envelope, 'to-alias');
    await Promise.all([peer.close(), sender.close()]);
  });
});

describe('WebSocket: burn closes the live session', () => {
  it('sends account_burned and closes', async () => {
    const t = await startTestRelay({ ...FAST, limitAccountBurn: 100 });
    try {
      const me = generateIdentity();
      const client = new RelayClient({ url: t.relay.url, ca: t.relay.tls!.cert });
      await client.uploadBundle(me, { preKeys: 1 });
      const { peer } = await authedPeer(t.relay, me);
      await client.burn(me);
      assert.equal((await peer.nextOfType('error')).code, 'account_burned');
      assert.equal((await peer.closed).code, 4003);
    } finally {
      await t.close();
    }
  });
});
