// What one socket can make the relay hold (docs/protocol.md §9): the per-socket byte cap on frames
// waiting to be written, the slow-reader close, and the per-IP budget for queued bytes. Each test
// asserts the bound and that nothing accepted was lost.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { generateIdentity, type Identity } from '../src/client/identity.js';
import { RelayClient } from '../src/client/rest-client.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { waitFor } from './helpers/wait.js';
import { authedPeer, type RawPeer, type Received } from './helpers/ws.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const RELAXED = {
  powLimit: 10_000,
  limitGlobal: 10_000,
  limitKeysUpload: 1000,
  limitMsgSend: 100_000,
  limitMsgReceive: 100_000,
  limitWsFrames: 100_000,
  queueMax: 10_000,
  queueMaxBytes: 256 * MiB,
  limitQueueBytes: 256 * MiB,
};

/** `<tag>:<i>` of the envelope a received frame carries, live (`msg`) or queued (`queued_message`). */
function envelopeOf(r: Received): string | undefined {
  const msg = r.json?.type === 'queued_message' ? r.json.payload : r.json;
  if (msg?.type !== 'msg') return undefined;
  return (msg.envelope as string).split(':').slice(0, 2).join(':');
}

/** Resolves once `peer` has received frames carrying every envelope in `wanted`. */
function untilEnvelopes(peer: RawPeer, wanted: Set<string>, timeoutMs = 60_000): Promise<void> {
  const seen = new Set<string>();
  const note = (r: Received) => {
    const e = envelopeOf(r);
    if (e !== undefined && wanted.has(e)) seen.add(e);
    return seen.size === wanted.size;
  };
  if (peer.received.some(note)) return Promise.resolve();
  return peer.next(note, timeoutMs).then(() => undefined);
}

function tcpSocketOf(peer: RawPeer): Socket {
  return (peer.ws as unknown as { _socket: Socket })._socket;
}

/**
 * Collects the relay's TLS sockets (the relay runs in this process) from now on; `of(peer)` is
 * the relay's end of `peer`'s connection: what the relay holds in user space for the peer is its
 * writableLength.
 */
function relaySockets(t: TestRelay): { of(peer: RawPeer): TLSSocket } {
  const seen: TLSSocket[] = [];
  t.relay.server.on('secureConnection', (s: TLSSocket) => seen.push(s));
  return {
    of(peer) {
      const mine = tcpSocketOf(peer);
      const theirs = seen.find((s) => s.remotePort === mine.localPort);
      assert.ok(theirs, "the relay's socket for the peer");
      return theirs;
    },
  };
}

/** Samples `socket.writableLength` every few ms until stop(); returns the largest seen. */
function watchWritable(socket: Socket): { stop(): number } {
  let peak = 0;
  const sample = () => void (peak = Math.max(peak, socket.writableLength));
  const timer = setInterval(sample, 2);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

async function uploadBundle(t: TestRelay, identity: Identity): Promise<void> {
  const client = new RelayClient({ url: t.relay.url, ca: t.relay.tls?.cert });
  await client.uploadBundle(identity);
}

/** Relays `count` envelopes `<tag>:<i>` of `size` bytes; resolves with the statuses in order. */
async function relayMany(
  sender: RawPeer,
  to: string,
  tag: string,
  count: number,
  size: number,
): Promise<Array<{ status: string; reason?: string }>> {
  const pad = 'x'.repeat(size);
  const statuses = new Map<string, { status: string; reason?: string }>();
  const all = sender.next((r) => {
    if (r.json?.type === 'delivery_status' && String(r.json.id).startsWith(`${tag}:`))
      statuses.set(r.json.id, r.json);
    return statuses.size === count;
  }, 120_000);
  for (let i = 0; i < count; i++)
    sender.send({ type: 'relay', to, id: `${tag}:${i}`, envelope: `${tag}:${i}:${pad}` });
  await all;
  return Array.from({ length: count }, (_, i) => statuses.get(`${tag}:${i}`)!);
}

describe('per-socket byte cap: a recipient that stops reading', () => {
  const CAP = 256 * KiB;
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({
      ...RELAXED,
      maxSocketBufferBytes: CAP,
      slowReaderGraceMs: 600_000, // this test is about the cap, not the close
    });
  });
  after(() => t.close());

  it('holds at most the cap for it, queues the rest, and delivers everything once it reads', async () => {
    const sockets = relaySockets(t);
    const bob = generateIdentity();
    await uploadBundle(t, bob);
    const recipient = await authedPeer(t.relay, bob);
    const sender = await authedPeer(t.relay, generateIdentity());
    tcpSocketOf(recipient.peer).pause();
    const written = watchWritable(sockets.of(recipient.peer));

    // 32 MiB: far more than the cap and the kernel's socket buffers together.
    const COUNT = 160;
    const statuses = await relayMany(sender.peer, bob.identityHash, 'm', COUNT, 200 * KiB);
    assert.ok(
      statuses.every((s) => s.status === 'delivered' || s.status === 'queued'),
      JSON.stringify(statuses.filter((s) => s.status !== 'delivered' && s.status !== 'queued')),
    );
    assert.ok(
      statuses.some((s) => s.status === 'queued'),
      'some messages went to the offline queue',
    );
    // The bound: what the relay held for one socket never exceeded the cap (plus a few padded
    // control frames, which are not refused).
    assert.ok(
      t.relay.shaper.peakOutboxBytes <= CAP + 4 * 1536,
      `peak backlog ${t.relay.shaper.peakOutboxBytes} > cap ${CAP}`,
    );

    assert.ok((await t.relay.store.queued(bob.identityHash)).length > 0);

    // It reads again: every message arrives, in the order sent, none twice.
    tcpSocketOf(recipient.peer).resume();
    const wanted = new Set(Array.from({ length: COUNT }, (_, i) => `m:${i}`));
    await untilEnvelopes(recipient.peer, wanted);
    const got = recipient.peer.received.map(envelopeOf).filter((e): e is string => e !== undefined);
    assert.deepEqual(got, [...wanted]);
    // ... and neither did its socket, from the first message to the last delivered: bytes handed
    // to the socket count until written out.
    const peakWritable = written.stop();
    assert.ok(
      peakWritable <= CAP + 4 * 1536,
      `the relay's socket buffered ${peakWritable} bytes > cap ${CAP}`,
    );
    await recipient.peer.close();
    await sender.peer.close();
  });
});

describe('per-socket byte cap: order across spills', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ ...RELAXED, maxSocketBufferBytes: 64 * KiB });
  });
  after(() => t.close());

  it('keeps 1000 back-to-back messages in order when some go through the queue', async () => {
    const carol = generateIdentity();
    await uploadBundle(t, carol);
    const recipient = await authedPeer(t.relay, carol);
    const sender = await authedPeer(t.relay, generateIdentity());
    const statuses = await relayMany(sender.peer, carol.identityHash, 'o', 1000, 100);
    assert.ok(
      statuses.some((s) => s.status === 'queued'),
      'the cap was reached',
    );
    const wanted = new Set(Array.from({ length: 1000 }, (_, i) => `o:${i}`));
    await untilEnvelopes(recipient.peer, wanted);
    const got = recipient.peer.received.map(envelopeOf).filter((e): e is string => e !== undefined);
    assert.deepEqual(got, [...wanted]);
    await recipient.peer.close();
    await sender.peer.close();
  });
});

describe('slow reader: a socket over its cap past the grace period', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({
      ...RELAXED,
      maxSocketBufferBytes: 64 * KiB,
      slowReaderGraceMs: 200,
    });
  });
  after(() => t.close());

  it('is closed, and what it did not read reaches the identity on its next connection', async () => {
    const dave = generateIdentity();
    await uploadBundle(t, dave);
    const stalled = await authedPeer(t.relay, dave);
    const sender = await authedPeer(t.relay, generateIdentity());
    tcpSocketOf(stalled.peer).pause();
    const COUNT = 120;
    const statuses = await relayMany(sender.peer, dave.identityHash, 's', COUNT, 200 * KiB);
    assert.ok(statuses.every((s) => s.status === 'delivered' || s.status === 'queued'));

    // The relay gives up on it: the session goes and its slot is freed.
    const metrics = async () =>
      (await fetchMetrics(t)).match(/entropy_slow_reader_closes_total (\d+)/)?.[1];
    await waitFor(async () => (await metrics()) === '1', { what: 'the slow reader is closed' });
    assert.equal(await metrics(), '1');

    // What the old socket had already received in its kernel buffer is still readable by it;
    // everything else is in the queue and arrives on the next connection. Nothing is lost.
    tcpSocketOf(stalled.peer).resume();
    assert.deepEqual(await stalled.peer.closed, { code: 4004, reason: 'slow_reader' });
    const again = await authedPeer(t.relay, dave);
    const wanted = new Set(Array.from({ length: COUNT }, (_, i) => `s:${i}`));
    const seen = new Set(
      [...stalled.peer.received, ...again.peer.received]
        .map(envelopeOf)
        .filter((e): e is string => e !== undefined),
    );
    const missing = [...wanted].filter((e) => !seen.has(e));
    if (missing.length > 0) await untilEnvelopes(again.peer, new Set(missing));
    await again.peer.close();
    await sender.peer.close();
  });
});

describe('queued bytes per sender IP', () => {
  const BUDGET = 64 * KiB;
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ ...RELAXED, limitQueueBytes: BUDGET });
  });
  after(() => t.close());

  it('refuses with rate_limited once a sender has made the store hold its budget', async () => {
    const erin = generateIdentity();
    await uploadBundle(t, erin);
    const sender = await authedPeer(t.relay, generateIdentity());
    const statuses = await relayMany(sender.peer, erin.identityHash, 'q', 20, 10 * KiB);
    const queued = statuses.filter((s) => s.status === 'queued').length;
    const refused = statuses.filter((s) => s.status === 'rejected' && s.reason === 'rate_limited');
    assert.ok(queued >= 1, 'the budget admits some');
    assert.equal(queued + refused.length, 20);
    assert.ok(refused.length >= 1, 'and then refuses');
    const stored = await t.relay.store.queued(erin.identityHash);
    assert.equal(stored.length, queued);
    const bytes = stored.reduce((sum, item) => sum + Buffer.byteLength(item.payload), 0);
    assert.ok(bytes <= BUDGET, `${bytes} bytes stored for one sender IP, budget ${BUDGET}`);
    await sender.peer.close();
  });
});

async function fetchMetrics(t: TestRelay): Promise<string> {
  return (await t.metrics()).body.toString();
}
