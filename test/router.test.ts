// The router and the offline queue without a socket (docs/protocol.md §4.3-§4.5): the real Router
// on the real MemoryStore, with sessions that record what they are handed. Two routers on one
// MemoryStore are two instances: each has its own channel, and an address's channel reaches
// whichever of them subscribed it (one subscriber per address per store, so two sessions of one
// address on two instances are played by publishing what the other instance would publish).
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { Config } from '../src/config.js';
import { encodeChannelMessage, type ChannelMessage } from '../src/relay/channel.js';
import {
  binaryDelivery,
  messageDelivery,
  newMessageId,
  offlineForm,
  type Delivery,
  type RejectReason,
} from '../src/relay/deliveries.js';
import { MAX_OFFERS, type OutboundMessage } from '../src/relay/router.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import {
  FakeEndpoint,
  counterValue,
  newHash,
  startDomain,
  statusRecorder,
  withBundleIn,
  type Domain,
} from './helpers/domain.js';
import { waitFor } from './helpers/wait.js';

const message = (envelope = 'e'): OutboundMessage & { delivery: Delivery } => {
  const id = newMessageId();
  return { id, delivery: messageDelivery(id, envelope) };
};
const msgFrame = (m: OutboundMessage, envelope = 'e') => ({ type: 'msg', id: m.id, envelope });
const queuedFrame = (m: OutboundMessage) => ({
  type: 'queued_message',
  id: m.id,
  payload: JSON.parse(offlineForm(m.delivery)) as unknown,
});

async function domain(t: TestContext, overrides: Partial<Config> = {}, store?: MemoryStore) {
  // Two routers on one store play two instances: they offer across instances.
  const d = await startDomain(overrides, { store, acrossInstances: store !== undefined });
  t.after(() => d.stop());
  return d;
}

/** Two instances sharing one store. */
async function twoInstances(t: TestContext, overrides: Partial<Config> = {}) {
  const store = new MemoryStore();
  return [await domain(t, overrides, store), await domain(t, overrides, store)] as const;
}

/** A session for `address` on `d`, registered and drained, as an authenticated session is. */
async function online(d: Domain, address: string, e = new FakeEndpoint()): Promise<FakeEndpoint> {
  assert.ok(await d.router.register(address, e));
  await d.router.drain(address);
  return e;
}

const payloads = async (d: Domain, address: string): Promise<string[]> =>
  (await d.store.queued(address)).map((item) => item.payload);

/** Sends `messages` to an absent `address` (with a bundle): each is queued. */
async function queueFor(d: Domain, address: string, n: number) {
  await withBundleIn(d.store, address);
  const messages = Array.from({ length: n }, (_, i) => message(`queued ${i}`));
  const { notify, statuses } = statusRecorder();
  for (const m of messages) await d.router.send(address, m, notify);
  assert.deepEqual(statuses.items, Array(n).fill('queued'));
  return messages;
}

/** Publishes on `address`'s channel what another instance would, and waits until the
 *  subscriber has handled it (the memory store hands it over in a microtask). */
async function fromOtherInstance(d: Domain, address: string, m: ChannelMessage): Promise<void> {
  assert.equal(await d.store.publish(address, encodeChannelMessage(m)), 1);
  await new Promise<void>((resolve) => queueMicrotask(resolve));
}

describe('router: a recipient with a session here', () => {
  it('gets the delivery at once; the sender hears delivered once it is written', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const e = await online(d, h);
    const { notify, statuses } = statusRecorder();
    const m = message('hello');
    await d.router.send(h, m, notify);
    assert.deepEqual(e.values, [msgFrame(m, 'hello')]);
    const [carried] = e.carried;
    assert.equal(carried?.recipient, h);
    assert.equal(carried?.id, m.id);
    assert.equal(carried?.inQueue, false);
    assert.equal(carried?.offline(), offlineForm(m.delivery));
    assert.deepEqual(statuses.items, [], 'nothing is said before the write');
    d.router.written(e, carried!);
    assert.deepEqual(statuses.items, ['delivered']);
    assert.deepEqual(await payloads(d, h), [], 'live delivery never touches the queue');
    assert.equal(await counterValue(d.metrics.messages, { outcome: 'delivered' }), 1);
  });

  it('needs no key bundle, in default mode too', async (t) => {
    const d = await domain(t);
    const h = newHash();
    assert.equal(d.router.requiresBundle(h), true);
    await online(d, h);
    assert.equal(d.router.requiresBundle(h), false);
  });

  it('volatile frames: live only, no carried message, no status', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const e = await online(d, h);
    const body = Buffer.from('typing');
    await d.router.send(h, { id: newMessageId(), delivery: binaryDelivery(body), volatile: true });
    assert.deepEqual(e.values, [{ binary: body.toString('hex') }]);
    assert.deepEqual(e.carried, []);
    e.limit = e.pushed.length; // full socket: dropped, not queued
    await d.router.send(h, { id: newMessageId(), delivery: binaryDelivery(body), volatile: true });
    assert.equal(e.refused, 1);
    assert.deepEqual(await payloads(d, h), []);
    assert.equal(await counterValue(d.metrics.socketSpills), 0);
  });
});

describe('router: the offline queue', () => {
  it('queues for an absent recipient with a bundle; its next session drains it, oldest first', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const sent = await queueFor(d, h, 3);
    assert.deepEqual(
      await payloads(d, h),
      sent.map((m) => offlineForm(m.delivery)),
    );
    assert.equal(await counterValue(d.metrics.messages, { outcome: 'queued' }), 3);
    const e = await online(d, h);
    assert.deepEqual(e.values, sent.map(queuedFrame));
    assert.ok(e.carried.every((c) => c.inQueue && !c.live && c.recipient === h));
    assert.equal(await counterValue(d.metrics.queueDrained), 3);
  });

  it('binary payloads queue as binary_payload', async (t) => {
    const d = await domain(t);
    const h = newHash();
    await withBundleIn(d.store, h);
    const data = Buffer.from([0, 255, 10]);
    await d.router.send(h, { id: 'b1', delivery: binaryDelivery(data) });
    const e = await online(d, h);
    assert.deepEqual(e.values, [
      { type: 'queued_message', id: 'b1', payload: { type: 'binary_payload', data_hex: '00ff0a' } },
    ]);
  });

  it('default mode: no bundle → rejected invalid_recipient, nothing stored', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const { notify, statuses } = statusRecorder();
    await d.router.send(h, message(), notify);
    assert.deepEqual(statuses.items, ['rejected invalid_recipient']);
    assert.deepEqual(await payloads(d, h), []);
    assert.equal(await counterValue(d.metrics.queueRefused, { reason: 'invalid_recipient' }), 1);
  });

  it('compat mode queues for names with no bundle', async (t) => {
    const d = await domain(t, { compat: 'v1' });
    assert.equal(d.router.requiresBundle('bob'), false);
    const { notify, statuses } = statusRecorder();
    await d.router.send('bob', message(), notify);
    assert.deepEqual(statuses.items, ['queued']);
    assert.equal((await payloads(d, 'bob')).length, 1);
  });

  it('mailbox_full by count and by bytes; nothing queued is dropped to make room', async (t) => {
    const d = await domain(t, { queueMax: 2, queueMaxBytes: 1024 });
    const h = newHash();
    const first = await queueFor(d, h, 2);
    const { notify, statuses } = statusRecorder();
    await d.router.send(h, message(), notify);
    const other = newHash();
    await withBundleIn(d.store, other);
    const big = message('x'.repeat(600));
    await d.router.send(other, big, notify);
    await d.router.send(other, message('y'.repeat(600)), notify);
    assert.deepEqual(statuses.items, ['rejected mailbox_full', 'queued', 'rejected mailbox_full']);
    assert.deepEqual(
      await payloads(d, h),
      first.map((m) => offlineForm(m.delivery)),
    );
    assert.deepEqual(await payloads(d, other), [offlineForm(big.delivery)]);
    assert.equal(await counterValue(d.metrics.queueRefused, { reason: 'mailbox_full' }), 2);
  });

  it('storage_full once the store budget of all queues is spent', async (t) => {
    const d = await domain(t, {}, new MemoryStore(Date.now, 1000));
    const [a, b] = [newHash(), newHash()];
    await withBundleIn(d.store, a);
    await withBundleIn(d.store, b);
    const { notify, statuses } = statusRecorder();
    await d.router.send(a, message('x'.repeat(700)), notify);
    await d.router.send(b, message('y'.repeat(700)), notify);
    assert.deepEqual(statuses.items, ['queued', 'rejected storage_full']);
    assert.deepEqual(await payloads(d, b), []);
    assert.ok(d.store.offlineBytes <= 1000);
    assert.equal(await counterValue(d.metrics.queueRefused, { reason: 'storage_full' }), 1);
  });

  it('the sender is charged for the queued bytes first: a refusal is its reason, nothing stored', async (t) => {
    const d = await domain(t);
    const h = newHash();
    await withBundleIn(d.store, h);
    const charged: number[] = [];
    const { notify, statuses } = statusRecorder();
    const refused = message('refused');
    const charge = (n: number, refusal?: RejectReason) => (charged.push(n), refusal);
    await d.router.send(h, { ...refused, chargeQueued: (n) => charge(n, 'rate_limited') }, notify);
    const huge = message('huge');
    await d.router.send(h, { ...huge, chargeQueued: (n) => charge(n, 'too_large') }, notify);
    const taken = message('taken');
    await d.router.send(h, { ...taken, chargeQueued: (n) => charge(n) }, notify);
    assert.deepEqual(statuses.items, ['rejected rate_limited', 'rejected too_large', 'queued']);
    assert.deepEqual(charged, [
      Buffer.byteLength(offlineForm(refused.delivery)),
      Buffer.byteLength(offlineForm(huge.delivery)),
      Buffer.byteLength(offlineForm(taken.delivery)),
    ]);
    assert.deepEqual(await payloads(d, h), [offlineForm(taken.delivery)]);
    const e = await online(d, h);
    let liveCharges = 0;
    await d.router.send(h, { ...message(), chargeQueued: () => (liveCharges++, 'rate_limited') });
    assert.equal(liveCharges, 0, 'a live delivery is not charged');
    assert.equal(e.pushed.length, 2);
  });

  it('a store that cannot be asked: send throws StoreUnavailableError for an absent recipient', async (t) => {
    const d = await domain(t);
    const h = newHash();
    await withBundleIn(d.store, h);
    await d.store.close();
    await assert.rejects(async () => d.router.send(h, message()), { code: 'storage_unavailable' });
  });
});

describe('router: drains', () => {
  it('arrivals wait for the drain: the queue first, then what came meanwhile, in order', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const queued = await queueFor(d, h, 3);
    const e = new FakeEndpoint();
    await d.router.register(h, e);
    const early = message('before the drain');
    await d.router.send(h, early);
    assert.equal(e.pushed.length, 0, 'held until the first drain');
    const drained = d.router.drain(h);
    const during = message('during the drain');
    await d.router.send(h, during);
    await drained;
    assert.deepEqual(e.values, [
      ...queued.map(queuedFrame),
      msgFrame(early, 'before the drain'),
      msgFrame(during, 'during the drain'),
    ]);
  });

  it('concurrent drains and repeated notifications never hand a queued id twice', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const queued = await queueFor(d, h, 3);
    const e = new FakeEndpoint();
    await d.router.register(h, e);
    await Promise.all([d.router.drain(h), d.router.drain(h), d.router.drain(h)]);
    await fromOtherInstance(d, h, { kind: 'queue_changed' });
    await d.router.drain(h);
    assert.deepEqual(e.values, queued.map(queuedFrame));
    // Another instance queues one more and announces it: only that one is handed.
    const later = message('later');
    const limits = { maxCount: 10, maxBytes: 10_000, ttlMs: 60_000, requireBundle: false };
    await d.store.enqueue(h, { id: later.id, payload: offlineForm(later.delivery) }, limits);
    await fromOtherInstance(d, h, { kind: 'queue_changed' });
    await e.pushed.reach(4, 'the later item');
    await d.router.drain(h);
    assert.deepEqual(e.values, [...queued, later].map(queuedFrame));
  });

  it('a notification of a queued message racing the drain: handed once', async (t) => {
    const [a, b] = await twoInstances(t);
    const h = newHash();
    const [m] = await queueFor(a, h, 1);
    const e = new FakeEndpoint();
    await b.router.register(h, e); // not drained yet: the notification is held
    await fromOtherInstance(b, h, { kind: 'deliver', id: m!.id, delivery: m!.delivery });
    await b.router.drain(h);
    assert.deepEqual(e.values, [queuedFrame(m!)], 'the drain handed it; the notification did not');
    // The same notification again, after the drain: still once.
    await fromOtherInstance(b, h, { kind: 'deliver', id: m!.id, delivery: m!.delivery });
    assert.equal(e.pushed.length, 1);
  });

  it('an offer arriving before the first drain waits for it: the queue first, then the offer', async (t) => {
    const [a, b] = await twoInstances(t);
    const h = newHash();
    const [old] = await queueFor(a, h, 1);
    const e = new FakeEndpoint();
    await b.router.register(h, e);
    const { notify, statuses } = statusRecorder();
    const m = message('raced');
    await a.router.send(h, m, notify);
    assert.equal(e.pushed.length, 0, 'held until the drain');
    await b.router.drain(h);
    assert.deepEqual(e.values, [queuedFrame(old!), msgFrame(m, 'raced')]);
    b.router.written(e, e.carried[1]!);
    assert.deepEqual(await statuses.reach(1, 'the status from the other instance'), ['delivered']);
  });

  it('a drain that fails still releases what it held', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const e = new FakeEndpoint();
    await d.router.register(h, e);
    const m = message();
    await d.router.send(h, m);
    await d.store.close();
    await d.router.drain(h);
    assert.deepEqual(e.values, [msgFrame(m)]);
  });

  it("a notification never starts a session's first drain: nothing reaches it before its own", async (t) => {
    const d = await domain(t);
    const h = newHash();
    const [queued] = await queueFor(d, h, 1);
    const e = new FakeEndpoint();
    await d.router.register(h, e);
    await fromOtherInstance(d, h, { kind: 'queue_changed' });
    assert.equal(e.pushed.length, 0, 'its client has not heard auth_success yet');
    await d.router.drain(h);
    assert.deepEqual(e.values, [queuedFrame(queued!)]);
  });

  it('a drain that fails is tried again until it works', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const [queued] = await queueFor(d, h, 1);
    const e = new FakeEndpoint();
    await d.router.register(h, e);
    const read = d.store.queued.bind(d.store);
    let failures = 2;
    d.store.queued = async (address) => {
      if (failures-- > 0) throw new Error('the store is failing over');
      return read(address);
    };
    await d.router.drain(h);
    assert.equal(e.pushed.length, 0);
    await e.pushed.reach(1, 'the queue, after two failed drains');
    assert.deepEqual(e.values, [queuedFrame(queued!)]);
  });
});

describe('router: a full socket (spill) and resume', () => {
  it('refused live messages are queued in order; resume delivers them in that order', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const e = await online(d, h);
    e.limit = 0;
    const { notify, statuses } = statusRecorder();
    const sent = [message('one'), message('two'), message('three')];
    for (const m of sent) await d.router.send(h, m, notify);
    assert.deepEqual(await statuses.reach(3, 'the spilled statuses'), [
      'queued',
      'queued',
      'queued',
    ]);
    assert.deepEqual(
      await payloads(d, h),
      sent.map((m) => offlineForm(m.delivery)),
    );
    assert.equal(await counterValue(d.metrics.socketSpills), 3);
    e.limit = Number.POSITIVE_INFINITY;
    d.router.resume(h, e);
    await e.pushed.reach(3, 'the spilled messages after resume');
    assert.deepEqual(e.values, sent.map(queuedFrame));
  });

  it('a drain stopped by a full socket resumes where it stopped, nothing twice', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const queued = await queueFor(d, h, 4);
    const e = new FakeEndpoint();
    e.limit = 1;
    await online(d, h, e);
    assert.deepEqual(e.values, [queuedFrame(queued[0]!)]);
    assert.equal(e.refused, 1, 'the drain stops at the first refusal');
    e.limit = Number.POSITIVE_INFINITY;
    d.router.resume(h, e);
    await e.pushed.reach(4, 'the rest of the queue');
    assert.deepEqual(e.values, queued.map(queuedFrame));
    assert.equal((await payloads(d, h)).length, 4, 'nothing was queued twice');
  });

  it('resume from a session that no longer holds the address does nothing', async (t) => {
    const d = await domain(t);
    const h = newHash();
    await queueFor(d, h, 1);
    const stranger = new FakeEndpoint();
    const e = new FakeEndpoint();
    e.limit = 0;
    await online(d, h, e);
    d.router.resume(h, stranger);
    d.router.resume(newHash(), e);
    await d.router.drain(h); // the entry is idle: this drain runs, refused again
    assert.equal(stranger.pushed.length, 0);
    assert.equal(e.refused, 2);
  });
});

describe('router: written, acks and closes', () => {
  it('v1 clients (no acks): a queued item leaves the queue once written', async (t) => {
    const d = await domain(t);
    const h = newHash();
    await queueFor(d, h, 2);
    const e = await online(d, h);
    d.router.written(e, e.carried[0]!);
    await waitFor(async () => (await payloads(d, h)).length === 1, { what: 'one removed' });
    d.router.written(e, e.carried[1]!);
    await waitFor(async () => (await payloads(d, h)).length === 0, { what: 'both removed' });
  });

  it('acks clients: written items stay until acked; an ack removes only what it names', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const queued = await queueFor(d, h, 2);
    const e = await online(d, h, new FakeEndpoint(undefined, 0, true));
    for (const c of e.carried) d.router.written(e, c);
    assert.equal((await payloads(d, h)).length, 2);
    assert.equal(await d.router.ack(h, [queued[0]!.id, 'no-such-id']), 1);
    assert.deepEqual(await payloads(d, h), [offlineForm(queued[1]!.delivery)]);
    assert.equal(await d.router.ack(h, [queued[0]!.id]), 0);
  });

  it('a closed session: unwritten messages go back to the queue (queued), none twice', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const [old] = await queueFor(d, h, 1);
    const e = await online(d, h);
    const { notify, statuses } = statusRecorder();
    const live = [message('one'), message('two')];
    for (const m of live) await d.router.send(h, m, notify);
    assert.equal(e.pushed.length, 3);
    await d.router.unregister(h, e);
    await d.router.undelivered(e.carried);
    assert.deepEqual(statuses.items, ['queued', 'queued']);
    assert.deepEqual(
      await payloads(d, h),
      [old!, ...live].map((m) => offlineForm(m.delivery)),
    );
    const next = await online(d, h);
    assert.deepEqual(next.values, [old!, ...live].map(queuedFrame));
  });

  it('acks clients: a live message written and never acked goes back to the queue when the session ends', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const e = await online(d, h, new FakeEndpoint(undefined, 0, true));
    const { notify, statuses } = statusRecorder();
    const [read, unread] = [message('read'), message('unread')];
    for (const m of [read, unread]) await d.router.send(h, m, notify);
    for (const c of e.carried) d.router.written(e, c);
    assert.deepEqual(statuses.items, ['delivered', 'delivered']);
    assert.deepEqual(await payloads(d, h), [], 'written live: in no queue');
    assert.equal(await d.router.ack(h, [read.id]), 1, 'acked from the ledger, not the store');
    await d.router.unregister(h, e);
    assert.deepEqual(await payloads(d, h), [offlineForm(unread.delivery)]);
    assert.deepEqual(statuses.items, ['delivered', 'delivered'], 'the sender hears nothing more');
    assert.equal(await counterValue(d.metrics.unackedRequeued), 1);
    const next = await online(d, h, new FakeEndpoint(undefined, 0, true));
    assert.deepEqual(next.values, [queuedFrame(unread)], 'the same id, once');
  });

  it('a replaced session: what it was written and never acked reaches the new session', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const older = await online(d, h, new FakeEndpoint('a', 1, true));
    const [acked, unacked] = [message('acked'), message('unacked')];
    for (const m of [acked, unacked]) await d.router.send(h, m, statusRecorder().notify);
    for (const c of older.carried) d.router.written(older, c);
    await d.router.ack(h, [acked.id]);
    const newer = await online(d, h, new FakeEndpoint('b', 2, true));
    assert.deepEqual(older.closes.items, ['session_replaced']);
    assert.deepEqual(newer.values, [queuedFrame(unacked)]);
    await d.router.unregister(h, older); // the old socket's close changes nothing now
    assert.deepEqual(await payloads(d, h), [offlineForm(unacked.delivery)], 'once');
  });

  it('a burned identity: its ledger is dropped, nothing comes back to the store', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const e = await online(d, h, new FakeEndpoint(undefined, 0, true));
    const sent = [message('before the burn'), message('written after it')];
    for (const m of sent) await d.router.send(h, m, statusRecorder().notify);
    d.router.written(e, e.carried[0]!);
    await d.router.closeEverywhere(h, 'account_burned');
    assert.equal(e.closes.items[0], 'account_burned');
    d.router.written(e, e.carried[1]!); // still in flight when the burn came
    await d.router.unregister(h, e, 'account_burned');
    assert.deepEqual(await payloads(d, h), []);
  });

  it('v1 clients (no acks) keep no ledger: written is delivered', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const e = await online(d, h);
    await d.router.send(h, message(), statusRecorder().notify);
    d.router.written(e, e.carried[0]!);
    await d.router.unregister(h, e);
    assert.deepEqual(await payloads(d, h), []);
  });

  it('the ledger is bounded: past 512 unacked messages the oldest go to the queue; every new one is written live', async (t) => {
    const d = await domain(t, { queueMax: 2000 });
    const h = newHash();
    const e = await online(d, h, new FakeEndpoint(undefined, 0, true));
    const { notify, statuses } = statusRecorder();
    const sent = Array.from({ length: 520 }, (_, i) => message(`m${i}`));
    for (const m of sent) {
      await d.router.send(h, m, notify);
      d.router.written(e, e.pushed.items.at(-1)!.carried!);
    }
    assert.equal(e.pushed.length, 520, 'a client that never acks live messages still gets them');
    assert.deepEqual(statuses.items, Array(520).fill('delivered'));
    await waitFor(async () => (await payloads(d, h)).length === 8, { what: 'the 8 oldest queued' });
    assert.deepEqual(
      await payloads(d, h),
      sent.slice(0, 8).map((m) => offlineForm(m.delivery)),
    );
    await d.router.ack(
      h,
      sent.slice(8, 108).map((m) => m.id),
    );
    await d.router.unregister(h, e);
    assert.deepEqual(
      await payloads(d, h),
      [...sent.slice(0, 8), ...sent.slice(108)].map((m) => offlineForm(m.delivery)),
      'the evicted, then the rest of the ledger, in order',
    );
  });

  it('the ledger is bounded by bytes too (the socket byte cap)', async (t) => {
    const d = await domain(t, { maxSocketBufferBytes: 64 * 1024 });
    const h = newHash();
    const e = await online(d, h, new FakeEndpoint(undefined, 0, true));
    const { notify, statuses } = statusRecorder();
    for (let i = 0; i < 10; i++) {
      await d.router.send(h, message('x'.repeat(16 * 1024)), notify);
      d.router.written(e, e.pushed.items.at(-1)!.carried!);
    }
    assert.deepEqual(statuses.items, Array(10).fill('delivered'));
    // 3 × (16 KiB + overhead) fit in 64 KiB: the 7 oldest were evicted to the queue.
    await waitFor(async () => (await payloads(d, h)).length === 7, { what: '7 queued' });
  });

  it('a ledger past the mailbox caps still goes back to the queue when the session ends', async (t) => {
    const d = await domain(t, { queueMax: 3 });
    const h = newHash();
    await queueFor(d, h, 3);
    const e = await online(d, h, new FakeEndpoint(undefined, 0, true));
    const live = [message('a'), message('b')];
    for (const m of live) await d.router.send(h, m, statusRecorder().notify);
    for (const c of e.carried) d.router.written(e, c);
    await d.router.unregister(h, e);
    assert.equal((await payloads(d, h)).length, 5, 'its sender heard delivered: never dropped');
    assert.equal(await counterValue(d.metrics.unackedLost), 0);
  });

  it('account_burned: unwritten messages are rejected invalid_recipient, nothing queued', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const e = await online(d, h);
    const { notify, statuses } = statusRecorder();
    await d.router.send(h, message(), notify);
    await d.router.unregister(h, e);
    await d.router.undelivered(e.carried, 'account_burned');
    assert.deepEqual(statuses.items, ['rejected invalid_recipient']);
    assert.deepEqual(await payloads(d, h), []);
  });

  it('a requeue the store refuses or cannot take reaches the sender as rejected', async (t) => {
    const d = await domain(t, { queueMax: 1 });
    const h = newHash();
    await queueFor(d, h, 1);
    const e = await online(d, h);
    const { notify, statuses } = statusRecorder();
    await d.router.send(h, message(), notify);
    await d.router.send(h, message(), notify);
    await d.router.unregister(h, e);
    const [, first, second] = e.carried;
    await d.router.undelivered([first!]);
    await d.store.close();
    await d.router.undelivered([second!]);
    assert.deepEqual(statuses.items, ['rejected mailbox_full', 'rejected storage_unavailable']);
  });

  it('arrivals held for a session that closes before its first drain go back to the queue', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const e = new FakeEndpoint();
    await d.router.register(h, e);
    const { notify, statuses } = statusRecorder();
    const m = message('held');
    await d.router.send(h, m, notify);
    await d.router.unregister(h, e);
    await d.router.drain(h); // the session's own drain, too late
    assert.equal(e.pushed.length, 0);
    assert.deepEqual(statuses.items, ['queued']);
    assert.deepEqual(await payloads(d, h), [offlineForm(m.delivery)]);
  });

  it('held arrivals for a burned identity are refused, never requeued', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const e = new FakeEndpoint();
    await d.router.register(h, e);
    const { notify, statuses } = statusRecorder();
    await d.router.send(h, message('held'), notify);
    await d.router.closeEverywhere(h, 'account_burned');
    assert.equal(e.closes.items[0], 'account_burned');
    await d.router.unregister(h, e);
    await d.router.undelivered(e.carried, 'account_burned');
    assert.deepEqual(statuses.items, ['rejected invalid_recipient']);
    assert.deepEqual(await payloads(d, h), []);
  });

  it('unregister by a session that does not hold the address changes nothing', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const e = await online(d, h);
    await d.router.unregister(h, new FakeEndpoint());
    await d.router.send(h, message());
    assert.equal(e.pushed.length, 1);
  });
});

describe('router: one session per address', () => {
  it('a newer session here replaces the older (session_replaced) and gets what was held for it', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const older = new FakeEndpoint('s-1', 1);
    await d.router.register(h, older); // its first drain has not run yet
    const { notify, statuses } = statusRecorder();
    const m = message('held');
    await d.router.send(h, m, notify);
    const newer = await online(d, h, new FakeEndpoint('s-2', 2));
    assert.deepEqual(older.closes.items, ['session_replaced']);
    assert.equal(older.pushed.length, 0);
    assert.deepEqual(newer.values, [msgFrame(m, 'held')]);
    d.router.written(newer, newer.carried[0]!);
    assert.deepEqual(statuses.items, ['delivered']);
    // Its own announcement does not close the newer session.
    await fromOtherInstance(d, h, { kind: 'queue_changed' });
    assert.deepEqual(newer.closes.items, []);
  });

  it('session_opened from another instance closes the older session (auth time, then id)', async (t) => {
    const d = await domain(t);
    const h = newHash();
    const mine = await online(d, h, new FakeEndpoint('s-m', 100));
    const opened = (sessionId: string, authAt: number): ChannelMessage => ({
      kind: 'session_opened',
      sessionId,
      authAt,
    });
    await fromOtherInstance(d, h, opened('s-m', 100)); // its own announcement
    await fromOtherInstance(d, h, opened('s-z', 99)); // older elsewhere
    await fromOtherInstance(d, h, opened('s-a', 100)); // same time, smaller id: older
    assert.deepEqual(mine.closes.items, []);
    await fromOtherInstance(d, h, opened('s-n', 100)); // same time, larger id: newer
    assert.deepEqual(mine.closes.items, ['session_replaced']);

    const h2 = newHash();
    const other = await online(d, h2, new FakeEndpoint('s-b', 5));
    await fromOtherInstance(d, h2, opened('s-a', 6));
    assert.deepEqual(
      other.closes.items,
      ['session_replaced'],
      'a later auth wins, whatever its id',
    );
  });

  it('aliases (no replace) are refused while another session holds them', async (t) => {
    const d = await domain(t, { compat: 'v1' });
    const [holder, other] = [new FakeEndpoint(), new FakeEndpoint()];
    assert.equal(await d.router.register('bob', holder, { replace: false }), true);
    assert.equal(await d.router.register('bob', other, { replace: false }), false);
    assert.equal(await d.router.register('bob', holder, { replace: false }), true);
    assert.deepEqual(holder.closes.items, []);
    await d.router.drain('bob');
    await d.router.send('bob', message());
    assert.equal(holder.pushed.length, 1);
    assert.equal(other.pushed.length, 0);
  });

  it('closeEverywhere closes the session here and tells the others', async (t) => {
    const [a, b] = await twoInstances(t);
    const h = newHash();
    const e = await online(b, h);
    await a.router.closeEverywhere(h, 'account_burned'); // no session on a: only the channel
    await e.closes.reach(1, 'the close from the other instance');
    assert.deepEqual(e.closes.items, ['account_burned']);
    const h2 = newHash();
    const here = await online(a, h2);
    await a.router.closeEverywhere(h2, 'server_shutdown');
    assert.equal(here.closes.items[0], 'server_shutdown');
  });
});

describe('router: across instances', () => {
  it('live delivery elsewhere: offered, written there and kept until acked; the sender hears delivered', async (t) => {
    const [a, b] = await twoInstances(t);
    const h = newHash();
    const e = await online(b, h, new FakeEndpoint(undefined, 0, true)); // acks
    const { notify, statuses } = statusRecorder();
    const [acked, unacked] = [message('acked'), message('unacked')];
    for (const m of [acked, unacked]) await a.router.send(h, m, notify);
    await e.pushed.reach(2, 'the deliveries on the other instance');
    assert.deepEqual(e.values, [msgFrame(acked, 'acked'), msgFrame(unacked, 'unacked')]);
    assert.ok(e.carried.every((c) => !c.inQueue));
    assert.deepEqual(await payloads(a, h), [], 'offered: in no queue, no bundle needed');
    assert.deepEqual(statuses.items, []);
    for (const c of e.carried) b.router.written(e, c);
    assert.deepEqual(await statuses.reach(2, 'the statuses from the other instance'), [
      'delivered',
      'delivered',
    ]);
    // Written is not received: a socket that dies before the ack must not lose it.
    assert.equal(await b.router.ack(h, [acked.id]), 1);
    await b.router.unregister(h, e);
    assert.deepEqual(await payloads(a, h), [offlineForm(unacked.delivery)]);
  });

  it('the other instance cannot write it (full socket, or closed): queued, kept once', async (t) => {
    const [a, b] = await twoInstances(t);
    const h = newHash();
    await withBundleIn(a.store, h);
    const e = await online(b, h);
    const { notify, statuses } = statusRecorder();
    const written = message('pushed then closed');
    await a.router.send(h, written, notify);
    await e.pushed.reach(1);
    e.limit = 1;
    const full = message('refused');
    await a.router.send(h, full, notify);
    await statuses.reach(1, 'the spilled status');
    await b.router.unregister(h, e);
    await b.router.undelivered(e.carried);
    assert.deepEqual(await statuses.reach(2, 'the requeued status'), ['queued', 'queued']);
    // The refused one was queued at once, the unwritten one when its socket closed.
    assert.deepEqual(
      (await payloads(a, h)).sort(),
      [written, full].map((m) => offlineForm(m.delivery)).sort(),
    );
  });

  it('an offer for a session that is gone by the time it arrives: queued there, the sender hears queued', async (t) => {
    const [a, b] = await twoInstances(t);
    const h = newHash();
    const gone = await online(b, h);
    const m = message('late');
    const { notify, statuses } = statusRecorder();
    // b's session let go of the address, and its subscription lingers (an unsubscribe that did
    // not get through): the offer reaches b all the same.
    b.store.unsubscribe = async () => undefined;
    await b.router.unregister(h, gone);
    await a.router.send(h, m, notify);
    assert.deepEqual(await statuses.reach(1, 'the status'), ['queued']);
    assert.deepEqual(await payloads(a, h), [offlineForm(m.delivery)]);
    assert.equal(gone.pushed.length, 0);
  });

  it('volatile frames reach a session elsewhere, and nobody when it is gone', async (t) => {
    const [a, b] = await twoInstances(t);
    const h = newHash();
    const e = await online(b, h);
    const body = Buffer.from('presence');
    await a.router.send(h, { id: newMessageId(), delivery: binaryDelivery(body), volatile: true });
    await e.pushed.reach(1, 'the volatile frame');
    assert.deepEqual(e.values, [{ binary: body.toString('hex') }]);
    await b.router.unregister(h, e);
    await a.router.send(h, { id: newMessageId(), delivery: binaryDelivery(body), volatile: true });
    assert.deepEqual(await payloads(a, h), []);
  });

  it('nobody listens: the sender hears queued at once', async (t) => {
    const [a] = await twoInstances(t);
    const h = newHash();
    await withBundleIn(a.store, h);
    const { notify, statuses } = statusRecorder();
    await a.router.send(h, message(), notify);
    assert.deepEqual(statuses.items, ['queued']);
  });

  it('a listener that never answers: the offer is queued when the status wait times out', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const [a] = await twoInstances(t);
    const h = newHash();
    await withBundleIn(a.store, h);
    await a.store.subscribe(h, () => undefined); // an instance that received it and died
    const { notify, statuses } = statusRecorder();
    const m = message();
    await a.router.send(h, m, notify);
    t.mock.timers.tick(9_999);
    assert.deepEqual(statuses.items, []);
    assert.deepEqual(await payloads(a, h), [], 'offered, not queued');
    t.mock.timers.tick(1);
    assert.deepEqual(await statuses.reach(1, 'the status'), ['queued']);
    assert.deepEqual(await payloads(a, h), [offlineForm(m.delivery)]);
    t.mock.timers.tick(60_000);
    assert.deepEqual(statuses.items, ['queued'], 'settled once');
  });

  it('stop queues every offer still waiting and tells its sender', async (t) => {
    const [a] = await twoInstances(t);
    const h = newHash();
    await withBundleIn(a.store, h);
    await a.store.subscribe(h, () => undefined);
    const { notify, statuses } = statusRecorder();
    const sent = [message('one'), message('two')];
    for (const m of sent) await a.router.send(h, m, notify);
    assert.deepEqual(statuses.items, []);
    await a.router.stop();
    assert.deepEqual(statuses.items, ['queued', 'queued']);
    assert.deepEqual(
      await payloads(a, h),
      sent.map((m) => offlineForm(m.delivery)),
    );
  });

  it(`at most ${MAX_OFFERS} offers wait for an answer: beyond, messages are queued first`, async (t) => {
    const [a] = await twoInstances(t, { queueMax: 2 * MAX_OFFERS });
    const h = newHash();
    await withBundleIn(a.store, h);
    await a.store.subscribe(h, () => undefined); // never answers
    const { notify, statuses } = statusRecorder();
    for (let i = 0; i < MAX_OFFERS; i++) await a.router.send(h, message(), notify);
    assert.deepEqual(await payloads(a, h), [], 'every offer waits, none queued');
    const over = message('one too many');
    await a.router.send(h, over, notify);
    assert.deepEqual(await payloads(a, h), [offlineForm(over.delivery)], 'queued first');
    await a.router.stop();
    assert.equal(statuses.items.filter((s) => s === 'queued').length, MAX_OFFERS + 1);
  });
});
