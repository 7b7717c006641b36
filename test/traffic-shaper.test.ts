// Outbound scheduler (docs/protocol.md §5): order, jitter, pacing, close() hand-back, timer
// economy. Most cases run on a fake clock (deterministic); a few run on real timers as a smoke
// check.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { drawJitterMs } from '../src/normalize/jitter.js';
import { PADDED_SIZE, padBinary, padJson } from '../src/normalize/padding.js';
import {
  TrafficShaper,
  type FrameSink,
  type OutboundFrame,
  type ShaperTimers,
  type TrafficShaperOptions,
} from '../src/normalize/traffic-shaper.js';
import { waitFor } from './helpers/wait.js';

// Compile-time check: a `ws` WebSocket is a FrameSink.
export const webSocketIsFrameSink: (ws: WebSocket) => FrameSink = (ws) => ws;

interface Write {
  data: Buffer;
  binary: boolean;
  at: number;
}

/** Records writes; calls back on setImmediate, or holds callbacks until released. */
class FakeSink implements FrameSink {
  readyState = 1;
  readonly writes: Write[] = [];
  hold = false;
  private readonly held: ((err?: Error) => void)[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];

  constructor(private readonly now: () => number = () => performance.now()) {}

  send(data: Buffer, options: { binary: boolean }, cb: (err?: Error) => void): void {
    this.writes.push({ data, binary: options.binary, at: this.now() });
    if (this.hold) this.held.push(cb);
    else setImmediate(cb);
    this.waiters = this.waiters.filter((w) => {
      if (this.writes.length < w.count) return true;
      w.resolve();
      return false;
    });
  }

  /** Fires the oldest `count` held callbacks, in order. */
  release(count: number, err?: Error): void {
    for (const cb of this.held.splice(0, count)) cb(err);
  }

  get heldCount(): number {
    return this.held.length;
  }

  waitForWrites(count: number): Promise<void> {
    if (this.writes.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  /** JSON types of the text frames written so far. */
  types(): string[] {
    return this.writes.filter((w) => !w.binary).map((w) => parse(w.data).type as string);
  }
}

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
  every: number | undefined;
}

/** A clock and timer API under the test's control; counts the timers the shaper keeps. */
class FakeClock {
  t = 1000;
  timeoutsCreated = 0;
  private nextId = 1;
  private readonly live = new Map<number, FakeTimer>();
  readonly now = (): number => this.t;
  readonly timers: ShaperTimers = {
    setTimeout: (fn, ms) => {
      this.timeoutsCreated++;
      return this.add(fn, ms, undefined);
    },
    clearTimeout: (handle) => this.clear(handle, false),
    setInterval: (fn, ms) => this.add(fn, ms, Math.max(1, ms)),
    clearInterval: (handle) => this.clear(handle, true),
  };

  private add(fn: () => void, ms: number, every: number | undefined): number {
    const id = this.nextId++;
    this.live.set(id, { id, at: this.t + Math.max(1, ms), fn, every });
    return id;
  }

  private clear(handle: unknown, interval: boolean): void {
    const timer = this.live.get(handle as number);
    if (timer && (timer.every !== undefined) === interval) this.live.delete(timer.id);
  }

  get liveTimeouts(): number {
    return [...this.live.values()].filter((t) => t.every === undefined).length;
  }

  get liveIntervals(): number {
    return [...this.live.values()].filter((t) => t.every !== undefined).length;
  }

  /** Runs every timer due up to now + ms, in time order, moving the clock to each. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const timer of this.live.values()) {
        if (timer.at <= end && (!next || timer.at < next.at)) next = timer;
      }
      if (!next) break;
      this.t = next.at;
      if (next.every === undefined) this.live.delete(next.id);
      else next.at += next.every;
      next.fn();
    }
    this.t = end;
  }
}

function parse(data: Buffer): Record<string, unknown> {
  return JSON.parse(data.toString('utf8')) as Record<string, unknown>;
}

function frame(seq: number, jitter: boolean, extra: Partial<OutboundFrame> = {}): OutboundFrame {
  return { data: padJson({ type: 'msg', seq }), binary: false, real: true, jitter, ...extra };
}

function seqs(sink: FakeSink): number[] {
  return sink.writes.map((w) => parse(w.data).seq as number);
}

const callbacksRun = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function fakeShaper(clock: FakeClock, opts: Partial<TrafficShaperOptions> = {}): TrafficShaper {
  return new TrafficShaper({
    jitterMs: [10, 50],
    pacingMs: 50,
    pacingIdleMs: 300,
    now: clock.now,
    timers: clock.timers,
    ...opts,
  });
}

/** A delay source that returns the scripted values in turn. */
function scripted(...delays: number[]): (min: number, max: number) => number {
  return () => {
    const delay = delays.shift();
    assert.ok(delay !== undefined, 'unexpected jitter draw');
    return delay;
  };
}

describe('drawJitterMs', () => {
  it('stays within [min, max] and covers every value about evenly', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 40_000; i++) counts[drawJitterMs(3, 6) - 3]!++;
    assert.equal(
      counts.reduce((a, b) => a + b),
      40_000,
    );
    for (const count of counts) assert.ok(count > 9000 && count < 11_000, `counts ${counts}`);
    assert.equal(drawJitterMs(7, 7), 7);
    for (let i = 0; i < 1000; i++) {
      const v = drawJitterMs(0, 2 ** 31);
      assert.ok(Number.isInteger(v) && v >= 0 && v <= 2 ** 31);
    }
  });
});

describe('TrafficShaper (fake clock)', () => {
  it('writes frames exactly as given, text and binary', async () => {
    const clock = new FakeClock();
    const shaper = fakeShaper(clock);
    const sink = new FakeSink(clock.now);
    const outbox = shaper.attach(sink);
    const frames: OutboundFrame[] = [
      frame(0, true),
      { data: padBinary(Buffer.alloc(3000, 7)), binary: true, real: true, jitter: true },
      { data: padJson({ type: 'error', code: 'x' }), binary: false, real: false, jitter: false },
      {
        data: padJson({ type: 'msg', envelope: 'y'.repeat(5000) }),
        binary: false,
        real: true,
        jitter: true,
      },
    ];
    for (const f of frames) outbox.enqueue(f);
    clock.advance(60 * frames.length);
    assert.equal(sink.writes.length, frames.length);
    sink.writes.forEach((w, i) => {
      assert.equal(w.data, frames[i]!.data);
      assert.equal(w.binary, frames[i]!.binary);
      assert.equal(w.data.length % PADDED_SIZE, 0);
    });
    assert.deepEqual(
      sink.writes.map((w) => w.data.length),
      [1536, 3072, 1536, 6144],
    );
    await callbacksRun();
    assert.equal(shaper.framesWritten, frames.length);
    outbox.close();
  });

  it('schedules at max(now + jitter, previous due); unjittered frames add no delay', () => {
    const clock = new FakeClock();
    const lateness: number[] = [];
    const shaper = fakeShaper(clock, {
      drawJitterMs: scripted(40, 10, 20),
      onLateness: (ms) => lateness.push(ms),
    });
    const sink = new FakeSink(clock.now);
    const outbox = shaper.attach(sink);
    const t0 = clock.t;

    // Idle outbox, no jitter: written during enqueue, not on a later tick.
    outbox.enqueue(frame(0, false));
    assert.deepEqual(seqs(sink), [0]);

    outbox.enqueue(frame(1, true)); // due t0 + 40
    outbox.enqueue(frame(2, false)); // due t0 + 40 (behind 1)
    clock.advance(5);
    outbox.enqueue(frame(3, true)); // max(t0 + 5 + 10, t0 + 40) = t0 + 40
    assert.equal(outbox.pending, 3);
    clock.advance(34); // t0 + 39
    assert.deepEqual(seqs(sink), [0]);
    clock.advance(1); // t0 + 40
    assert.deepEqual(seqs(sink), [0, 1, 2, 3]);
    assert.deepEqual(
      sink.writes.map((w) => w.at - t0),
      [0, 40, 40, 40],
    );

    clock.advance(10);
    outbox.enqueue(frame(4, true)); // t0 + 50 + 20
    outbox.enqueue(frame(5, false));
    clock.advance(19);
    assert.equal(sink.writes.length, 4);
    clock.advance(1);
    assert.deepEqual(seqs(sink), [0, 1, 2, 3, 4, 5]);
    assert.equal(sink.writes[5]!.at - t0, 70);
    // Jittered frames 1, 3, 4 each left exactly at their due time (frame 3's due is frame 1's).
    assert.deepEqual(lateness, [0, 0, 0]);
    outbox.close();
  });

  it('keeps a single due timer for many outboxes', () => {
    const clock = new FakeClock();
    const shaper = fakeShaper(clock);
    const sinks: FakeSink[] = [];
    const outboxes = Array.from({ length: 1000 }, () => {
      const sink = new FakeSink(clock.now);
      sinks.push(sink);
      const outbox = shaper.attach(sink);
      outbox.enablePacing();
      outbox.noteInboundReal();
      return outbox;
    });
    let maxTimeouts = 0;
    let maxIntervals = 0;
    let seq = 0;
    for (let step = 0; step < 100; step++) {
      for (let i = 0; i < 30; i++) {
        outboxes[(step * 37 + i * 101) % outboxes.length]!.enqueue(frame(seq++, true));
      }
      maxTimeouts = Math.max(maxTimeouts, clock.liveTimeouts);
      maxIntervals = Math.max(maxIntervals, clock.liveIntervals);
      clock.advance(3);
      maxTimeouts = Math.max(maxTimeouts, clock.liveTimeouts);
    }
    assert.ok(shaper.scheduledOutboxes > 100, 'many outboxes wait at once');
    clock.advance(100);
    assert.equal(maxTimeouts, 1);
    assert.equal(maxIntervals, 1);
    assert.equal(shaper.scheduledOutboxes, 0);
    assert.equal(clock.liveTimeouts, 0, 'nothing waiting, nothing armed');
    const realWrites = sinks.reduce((n, s) => n + s.types().filter((t) => t === 'msg').length, 0);
    assert.equal(realWrites, seq);
    for (const outbox of outboxes) outbox.close();
  });

  it('paces an idle session with recent real traffic, then stops after pacingIdleMs', async () => {
    const clock = new FakeClock();
    const shaper = fakeShaper(clock);
    const sink = new FakeSink(clock.now);
    const outbox = shaper.attach(sink);
    outbox.enablePacing();
    outbox.noteInboundReal();
    const start = clock.t;
    clock.advance(50);
    assert.deepEqual(sink.types(), ['dummy_pacing']);
    const dummy = sink.writes[0]!;
    assert.equal(dummy.data.length, PADDED_SIZE);
    assert.equal(dummy.binary, false);

    clock.advance(1000);
    // One per interval while now - lastReal <= 300. Ticks come every interval/10, each visiting
    // one tenth of the sessions: this shaper's first outbox is visited at +10, +60, … +260.
    assert.deepEqual(
      sink.writes.map((w) => w.at - start),
      [10, 60, 110, 160, 210, 260],
    );
    assert.equal(shaper.pacingOutboxes, 0);
    assert.equal(clock.liveIntervals, 0, 'the pacing interval stops when nobody is active');
    await callbacksRun();
    assert.equal(shaper.dummiesWritten, 6);
    assert.equal(shaper.framesWritten, 6);

    // Real traffic again: pacing resumes.
    outbox.noteInboundReal();
    clock.advance(50);
    assert.equal(sink.writes.length, 7);
    outbox.close();
    assert.equal(shaper.pacingOutboxes, 0);
  });

  it('spreads the dummies of many sessions over the interval', () => {
    const clock = new FakeClock();
    const shaper = fakeShaper(clock);
    const sink = new FakeSink(clock.now);
    const outboxes = Array.from({ length: 100 }, () => shaper.attach(sink));
    for (const outbox of outboxes) {
      outbox.enablePacing();
      outbox.noteInboundReal();
    }
    const start = clock.t;
    clock.advance(50);
    assert.equal(sink.writes.length, 100, 'one dummy per session per interval');
    const times = new Set(sink.writes.map((w) => w.at - start));
    assert.equal(times.size, 10, `dummies left at ${[...times].join(', ')}`);
    for (const outbox of outboxes) outbox.close();
  });

  it('sends no dummies while real frames are written every interval', () => {
    const clock = new FakeClock();
    const shaper = fakeShaper(clock);
    const sink = new FakeSink(clock.now);
    const outbox = shaper.attach(sink);
    outbox.enablePacing();
    let seq = 0;
    for (let i = 0; i < 20; i++) {
      outbox.enqueue(frame(seq++, false));
      clock.advance(50);
    }
    assert.deepEqual(sink.types(), Array(20).fill('msg'));
    // Traffic stops: dummies fill the gap until the idle window closes.
    clock.advance(1000);
    const dummies = sink.types().filter((t) => t === 'dummy_pacing').length;
    assert.ok(dummies >= 5 && dummies <= 7, `dummies ${dummies}`);
    outbox.close();
  });

  it('does not pace a session whose pacing was never enabled, or that had no real traffic', () => {
    const clock = new FakeClock();
    const shaper = fakeShaper(clock);
    const unpacedSink = new FakeSink(clock.now);
    const unpaced = shaper.attach(unpacedSink);
    unpaced.noteInboundReal();
    unpaced.enqueue(frame(0, false));
    const quietSink = new FakeSink(clock.now);
    const quiet = shaper.attach(quietSink);
    quiet.enablePacing();
    clock.advance(1000);
    assert.deepEqual(unpacedSink.types(), ['msg']);
    assert.deepEqual(quietSink.types(), []);
    assert.equal(clock.liveIntervals, 0);
    unpaced.close();
    quiet.close();
  });

  it('never lets a dummy delay or overtake a real frame', () => {
    const clock = new FakeClock();
    const shaper = fakeShaper(clock, { drawJitterMs: scripted(45, 20) });
    const sink = new FakeSink(clock.now);
    const outbox = shaper.attach(sink);
    outbox.enablePacing();
    outbox.noteInboundReal();
    const start = clock.t;
    clock.advance(5);
    outbox.enqueue(frame(0, true)); // due +50, still waiting at the pacing visit at +10
    clock.advance(5); // +10: the dummy queues behind frame 0
    assert.equal(sink.writes.length, 0);
    clock.advance(40); // +50
    assert.deepEqual(sink.types(), ['msg', 'dummy_pacing']);
    assert.deepEqual(
      sink.writes.map((w) => w.at - start),
      [50, 50],
    );
    outbox.enqueue(frame(1, true)); // +50 + 20
    clock.advance(20);
    assert.deepEqual(sink.types(), ['msg', 'dummy_pacing', 'msg']);
    assert.equal(sink.writes[2]!.at - start, 70);
    outbox.close();
  });

  it('close() hands back unconfirmed frames in order and silences late callbacks', () => {
    const clock = new FakeClock();
    const shaper = fakeShaper(clock, { drawJitterMs: scripted(30, 30) });
    const sink = new FakeSink(clock.now);
    sink.hold = true;
    const outbox = shaper.attach(sink);
    const written: number[] = [];
    const frames = [0, 1, 2, 3, 4].map((seq) =>
      frame(seq, seq >= 3, { onWritten: () => written.push(seq), carries: { seq } }),
    );
    for (const f of frames) outbox.enqueue(f);
    assert.equal(sink.writes.length, 3, 'unjittered frames went straight to the sink');
    assert.equal(outbox.pending, 2);
    sink.release(1);
    assert.deepEqual(written, [0]);

    const returned = outbox.close();
    assert.deepEqual(returned, frames.slice(1)); // same objects, in order
    assert.equal(outbox.pending, 0);
    sink.release(2);
    assert.deepEqual(written, [0]);
    clock.advance(100);
    assert.equal(sink.writes.length, 3, 'nothing written after close');
    assert.deepEqual(outbox.close(), []);
    assert.equal(outbox.enqueue(frame(9, false)), false);
    assert.equal(shaper.outboxCount, 0);
    assert.equal(shaper.scheduledOutboxes, 0);
  });

  it('keeps frames whose write failed, and writes nothing after the failure', () => {
    const clock = new FakeClock();
    const shaper = fakeShaper(clock);
    const sink = new FakeSink(clock.now);
    sink.hold = true;
    const outbox = shaper.attach(sink);
    const written: number[] = [];
    const frames = [0, 1, 2].map((seq) =>
      frame(seq, false, { onWritten: () => written.push(seq) }),
    );
    for (const f of frames) outbox.enqueue(f);
    sink.release(1);
    sink.release(1, new Error('EPIPE'));
    outbox.enqueue(frame(3, false));
    clock.advance(100);
    assert.equal(sink.writes.length, 3);
    assert.deepEqual(written, [0]);
    assert.deepEqual(
      outbox.close().map((f) => parse(f.data).seq),
      [1, 2, 3],
    );
  });

  it('keeps frames for a sink that is not open, and one whose send throws', () => {
    const clock = new FakeClock();
    const shaper = fakeShaper(clock);
    const closing = new FakeSink(clock.now);
    const outbox = shaper.attach(closing);
    outbox.enqueue(frame(0, true));
    closing.readyState = 2;
    clock.advance(100);
    outbox.enqueue(frame(1, false));
    clock.advance(100);
    assert.equal(closing.writes.length, 0);
    assert.equal(outbox.pending, 2);
    assert.equal(shaper.scheduledOutboxes, 0);
    assert.deepEqual(
      outbox.close().map((f) => parse(f.data).seq),
      [0, 1],
    );

    const throwing: FrameSink = {
      readyState: 1,
      send() {
        throw new Error('not connected');
      },
    };
    const other = shaper.attach(throwing);
    other.enqueue(frame(0, false));
    other.enqueue(frame(1, false));
    clock.advance(100);
    assert.deepEqual(
      other.close().map((f) => parse(f.data).seq),
      [0, 1],
    );
  });

  it('stop() clears the timers; waiting frames are left for close()', () => {
    const clock = new FakeClock();
    const shaper = fakeShaper(clock);
    const sink = new FakeSink(clock.now);
    const outbox = shaper.attach(sink);
    outbox.enablePacing();
    outbox.noteInboundReal();
    outbox.enqueue(frame(0, true));
    assert.equal(clock.liveTimeouts, 1);
    assert.equal(clock.liveIntervals, 1);
    shaper.stop();
    assert.equal(clock.liveTimeouts, 0);
    assert.equal(clock.liveIntervals, 0);
    outbox.enqueue(frame(1, true));
    clock.advance(1000);
    assert.equal(sink.writes.length, 0);
    assert.equal(outbox.close().length, 2);
  });

  it('attaches and closes 10,000 paced outboxes without leaking', () => {
    const clock = new FakeClock();
    const shaper = fakeShaper(clock);
    const outboxes = [];
    for (let i = 0; i < 10_000; i++) {
      const outbox = shaper.attach(new FakeSink(clock.now));
      outbox.enablePacing();
      outbox.noteInboundReal();
      if (i % 3 === 0) outbox.enqueue(frame(i, true));
      outboxes.push(outbox);
    }
    assert.equal(shaper.outboxCount, 10_000);
    assert.equal(shaper.pacingOutboxes, 10_000);
    assert.equal(shaper.scheduledOutboxes, 3334);
    clock.advance(50); // one pacing tick, some frames written
    for (const outbox of outboxes) outbox.close();
    assert.equal(shaper.outboxCount, 0);
    assert.equal(shaper.pacingOutboxes, 0);
    assert.equal(shaper.scheduledOutboxes, 0);
    clock.advance(100);
    assert.equal(clock.liveTimeouts, 0);
    assert.equal(clock.liveIntervals, 0);
  });
});

describe('TrafficShaper (real timers)', () => {
  it('keeps order over thousands of jittered frames, one outbox and 50 interleaved', async () => {
    const shaper = new TrafficShaper({ jitterMs: [0, 20], pacingMs: 50, pacingIdleMs: 300 });
    const single = new FakeSink();
    const singleBox = shaper.attach(single);
    const sinks = Array.from({ length: 50 }, () => new FakeSink());
    const boxes = sinks.map((s) => shaper.attach(s));
    const expected: number[][] = sinks.map(() => []);
    const confirmed: number[] = [];
    let next = 0;
    for (let batch = 0; batch < 40; batch++) {
      for (let i = 0; i < 100; i++) {
        const seq = next++;
        const jitter = Math.random() < 0.8;
        singleBox.enqueue(frame(seq, jitter, { onWritten: () => confirmed.push(seq) }));
        const k = Math.floor(Math.random() * boxes.length);
        boxes[k]!.enqueue(frame(seq, jitter));
        expected[k]!.push(seq);
      }
      await callbacksRun(); // let earlier frames go out while later ones are enqueued
    }
    await single.waitForWrites(next);
    await Promise.all(sinks.map((s, k) => s.waitForWrites(expected[k]!.length)));
    const inOrder = Array.from({ length: next }, (_, i) => i);
    assert.deepEqual(seqs(single), inOrder);
    sinks.forEach((s, k) => assert.deepEqual(seqs(s), expected[k]));
    await callbacksRun();
    assert.deepEqual(confirmed, inOrder);
    singleBox.close();
    for (const box of boxes) box.close();
    shaper.stop();
  });

  it('delays each jittered frame by a uniform 10–50 ms and never writes before its due time', async () => {
    const now = (): number => performance.now();
    let lastDelay = NaN;
    const lateness: number[] = [];
    const shaper = new TrafficShaper({
      jitterMs: [10, 50],
      pacingMs: 500,
      pacingIdleMs: 5000,
      now,
      onLateness: (ms) => lateness.push(ms),
      drawJitterMs: (min, max) => (lastDelay = drawJitterMs(min, max)),
    });
    const count = 3000;
    const sinks: FakeSink[] = [];
    const delays: number[] = [];
    const enqueuedAt: number[] = [];
    for (let i = 0; i < count; i++) {
      // One frame per outbox, so its due time is exactly enqueue time + its own delay.
      const sink = new FakeSink(now);
      sinks.push(sink);
      enqueuedAt.push(now());
      shaper.attach(sink).enqueue(frame(i, true));
      delays.push(lastDelay);
      if (i % 200 === 199) await callbacksRun();
    }
    await Promise.all(sinks.map((s) => s.waitForWrites(1)));

    sinks.forEach((sink, i) => {
      const waited = sink.writes[0]!.at - enqueuedAt[i]!;
      assert.ok(waited >= delays[i]!, `frame ${i} waited ${waited} ms < ${delays[i]} ms`);
    });
    assert.equal(lateness.length, count);
    assert.ok(
      lateness.every((ms) => ms >= 0),
      'written before due',
    );

    assert.equal(Math.min(...delays), 10);
    assert.equal(Math.max(...delays), 50);
    const buckets = [0, 0, 0, 0]; // 10–19, 20–29, 30–39, 40–50
    for (const d of delays) buckets[Math.min(3, Math.floor((d - 10) / 10))]!++;
    const expected = [10, 10, 10, 11].map((width) => (count * width) / 41);
    buckets.forEach((n, b) => {
      const e = expected[b]!;
      assert.ok(Math.abs(n - e) < e * 0.25, `bucket ${b}: ${n}, expected about ${e}`);
    });
    shaper.stop();
  });

  it('paces on real timers and stops after the idle window', async () => {
    const shaper = new TrafficShaper({ jitterMs: [10, 50], pacingMs: 50, pacingIdleMs: 300 });
    const sink = new FakeSink();
    const outbox = shaper.attach(sink);
    outbox.enablePacing();
    outbox.enqueue(frame(0, true));
    // The pacing interval is unref'd (a relay's server keeps the process alive); so does this.
    const keepAlive = setInterval(() => {}, 1000);
    await sink.waitForWrites(4);
    assert.deepEqual(sink.types(), ['msg', 'dummy_pacing', 'dummy_pacing', 'dummy_pacing']);
    await waitFor(() => shaper.pacingOutboxes === 0, { what: 'pacing stops' });
    assert.equal(shaper.pacingOutboxes, 0, 'pacing stopped after the idle window');
    const total = sink.writes.length;
    assert.ok(total <= 1 + 7, `${total} frames`); // at most one per 50 ms within 300 ms
    clearInterval(keepAlive);
    outbox.close();
    shaper.stop();
  });
});
