// Traffic normalisation seen from outside (docs/protocol.md §5, §6): what an observer of the TLS
// stream sees (one record length for every frame), and delivery timing over real sockets
// (jitter within bounds, roughly uniform, never reordering).
import assert from 'node:assert/strict';
import { createConnection, createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { generateIdentity } from '../src/client/identity.js';
import { authedPeer, powAuthPayload, RawPeer, type Received } from './helpers/ws.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { waitFor } from './helpers/wait.js';

const APPLICATION_DATA = 23;

/** A TCP proxy that parses the TLS records the server sends and notes their lengths. */
class RecordingProxy {
  readonly records: Array<{ type: number; length: number }> = [];
  private server: Server | undefined;
  recording = false;

  async start(targetPort: number): Promise<number> {
    this.server = createServer((client) => {
      const upstream = createConnection(targetPort, '127.0.0.1');
      client.pipe(upstream);
      let pending = Buffer.alloc(0);
      upstream.on('data', (chunk: Buffer) => {
        client.write(chunk);
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 5) {
          const length = pending.readUInt16BE(3);
          if (pending.length < 5 + length) break;
          if (this.recording) this.records.push({ type: pending[0]!, length });
          pending = pending.subarray(5 + length);
        }
      });
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server!.address() as AddressInfo).port;
  }

  close(): void {
    this.server?.close();
  }
}

describe('wire: TLS records', () => {
  let t: TestRelay;
  const proxy = new RecordingProxy();
  before(async () => {
    t = await startTestRelay({ pacingMs: 100, jitterMs: [10, 50] });
  });
  after(async () => {
    proxy.close();
    await t.close();
  });

  it('every application-data record carrying a frame has the same length; deflate is declined', async () => {
    const port = await proxy.start(t.relay.port);
    const me = generateIdentity();
    const payload = await powAuthPayload(t.relay, me);
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, {
      ca: t.relay.tls!.cert,
      perMessageDeflate: true,
    });
    const peer = new RawPeer(ws);
    await new Promise((resolve) => ws.once('open', resolve));
    assert.equal(ws.extensions, '', 'permessage-deflate must be declined');
    peer.send({ type: 'auth', payload });
    assert.equal((await peer.next()).json.type, 'auth_success');

    proxy.recording = true;
    const offline = generateIdentity().identityHash;
    const ofType = (type: string) => (r: Received) => r.json?.type === type;
    const status = (id: string) => (r: Received) =>
      r.json?.type === 'delivery_status' && r.json.id === id;
    // Each frame, then what answers it.
    const exchanges: Array<[unknown, (r: Received) => boolean]> = [
      [{ type: 'ping' }, ofType('dummy_ack')],
      [{ type: 'dummy' }, ofType('dummy_ack')],
      [{ type: 'relay', to: me.identityHash, envelope: 'short', id: '1' }, status('1')],
      [{ type: 'relay', to: me.identityHash, envelope: 'x'.repeat(900), id: '2' }, status('2')],
      [{ type: 'relay', to: offline, envelope: 'queued', id: '3' }, status('3')],
      [{ type: 'relay', to: 'bad', envelope: 'e', id: '4' }, status('4')],
      ['garbage', ofType('error')],
      [
        Buffer.concat([Buffer.from(me.identityHash), Buffer.alloc(700, 1)]),
        (r) => r.binary !== undefined,
      ],
    ];
    for (const [frame, answer] of exchanges) {
      peer.send(frame);
      await peer.next(answer);
    }
    // The binary frame's status, and pacing's own dummies.
    await peer.next(ofType('delivery_status'));
    await peer.next(ofType('dummy_pacing'));
    proxy.recording = false;

    const data = proxy.records.filter((r) => r.type === APPLICATION_DATA);
    const kinds = new Set(peer.received.slice(1).map((r) => r.json?.type ?? 'binary'));
    for (const kind of ['dummy_ack', 'msg', 'delivery_status', 'error', 'binary', 'dummy_pacing']) {
      assert.ok(kinds.has(kind), `saw a ${kind} frame`);
    }
    assert.ok(
      data.length >= peer.received.length - 1,
      `${data.length} records for ${peer.received.length - 1} frames`,
    );
    const lengths = new Set(data.map((r) => r.length));
    assert.equal(lengths.size, 1, `record lengths seen: ${[...lengths].join(', ')}`);
    await peer.close();
  });
});

describe('timing over real sockets', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({
      tls: false,
      jitterMs: [10, 50],
      powLimit: 10_000,
      limitGlobal: 10_000,
      limitMsgSend: 100_000,
      limitMsgReceive: 100_000,
      limitWsFrames: 100_000,
      limitWsAuth: 10_000,
      queueMax: 5000,
      // 1000 back-to-back jittered frames are held at once; the per-socket cap has its own tests.
      maxSocketBufferBytes: 16 * 1024 * 1024,
    });
  });
  after(() => t.close());

  it('delays each delivery within bounds, roughly uniformly, and never reorders', async () => {
    const RECIPIENTS = 40;
    const ROUNDS = 60; // 2400 deliveries
    const sender = await authedPeer(t.relay, generateIdentity());
    const recipients = await Promise.all(
      Array.from({ length: RECIPIENTS }, () => generateIdentity()).map(async (id) => ({
        id,
        ...(await authedPeer(t.relay, id)),
      })),
    );
    const sentAt = new Map<string, number>();
    const delays: number[] = [];
    const lastSeq = new Map<string, number>();
    let reordered = 0;
    let received = 0;
    const done = new Promise<void>((resolve) => {
      for (const r of recipients) {
        r.peer.ws.on('message', (data: Buffer, isBinary) => {
          if (isBinary) return;
          const frame = JSON.parse(data.toString());
          if (frame.type !== 'msg') return;
          const [seq] = frame.envelope.split(':');
          delays.push(performance.now() - sentAt.get(frame.envelope)!);
          if (Number(seq) <= (lastSeq.get(r.id.identityHash) ?? -1)) reordered++;
          lastSeq.set(r.id.identityHash, Number(seq));
          if (++received === RECIPIENTS * ROUNDS) resolve();
        });
      }
    });
    // A round starts once the last one has arrived, so each delay is one draw of the jitter.
    for (let round = 0; round < ROUNDS; round++) {
      for (const r of recipients) {
        const envelope = `${round}:${r.id.identityHash.slice(0, 8)}`;
        sentAt.set(envelope, performance.now());
        sender.peer.send({ type: 'relay', to: r.id.identityHash, envelope });
      }
      await waitFor(() => received >= (round + 1) * RECIPIENTS, {
        what: `round ${round} arrives`,
      });
    }
    await done;
    assert.equal(reordered, 0);
    assert.equal(delays.length, RECIPIENTS * ROUNDS);
    // Measured on the wire: nothing leaves before the minimum jitter. (How much later a frame
    // arrives also depends on how loaded this machine is: that is for the benchmark.)
    assert.equal(
      delays.filter((d) => d < 10).length,
      0,
      'no delivery leaves before the minimum jitter',
    );
    // The jitter the relay drew for these deliveries (and their delivery_status frames): within
    // [10, 50] ms and uniform — 25 % per 10 ms bucket.
    const metrics = (await t.metrics()).body.toString();
    const bucket = (le: string) =>
      Number(
        new RegExp(`entropy_delivery_jitter_seconds_bucket\\{le="${le}"\\} (\\d+)`).exec(
          metrics,
        )![1],
      );
    const total = Number(/entropy_delivery_jitter_seconds_count (\d+)/.exec(metrics)![1]);
    assert.ok(total >= delays.length, `${total} jitter draws for ${delays.length} deliveries`);
    assert.ok(bucket('0.01') <= total * 0.04, 'draws of exactly 10 ms only (1 value in 41)');
    assert.equal(bucket('0.05'), total, 'no draw above 50 ms');
    const counts = [
      bucket('0.02') - bucket('0.01'),
      bucket('0.03') - bucket('0.02'),
      bucket('0.04') - bucket('0.03'),
      bucket('0.05') - bucket('0.04'),
    ];
    for (const count of counts) {
      assert.ok(
        Math.abs(count / total - 0.244) < 0.05,
        `jitter buckets ${counts.join(', ')} of ${total}`,
      );
    }
    await Promise.all([sender.peer.close(), ...recipients.map((r) => r.peer.close())]);
  });

  it('keeps 1000 back-to-back frames to one socket in order', async () => {
    const sender = await authedPeer(t.relay, generateIdentity());
    const bob = generateIdentity();
    const b = await authedPeer(t.relay, bob);
    const seqs: number[] = [];
    const done = new Promise<void>((resolve) => {
      b.peer.ws.on('message', (data: Buffer, isBinary) => {
        if (isBinary) return;
        const frame = JSON.parse(data.toString());
        if (frame.type === 'msg') seqs.push(Number(frame.envelope));
        if (seqs.length === 1000) resolve();
      });
    });
    for (let i = 0; i < 1000; i++)
      sender.peer.send({ type: 'relay', to: bob.identityHash, envelope: String(i) });
    await done;
    assert.deepEqual(
      seqs,
      Array.from({ length: 1000 }, (_, i) => i),
    );
    await Promise.all([sender.peer.close(), b.peer.close()]);
  });
});
