// Outbound scheduling (docs/protocol.md §5): every server→client WebSocket frame passes through the
// outbox of its socket, which adds delivery jitter without reordering and sends `dummy_pacing`
// frames to sessions that recently had real traffic.
//
// One TrafficShaper serves every socket of the process with two timers in total: a single
// timeout armed for the earliest due frame of all outboxes (a min-heap holds each outbox with
// waiting frames once, keyed by the due time of its head frame), and a single pacing interval
// that only visits the outboxes active within pacingIdleMs. An outbox (outbox.ts) keeps one
// socket's frames; this module decides when outboxes flush and which ones are paced.
import { performance } from 'node:perf_hooks';
import { DueHeap } from './due-heap.js';
import { drawJitterMs } from './jitter.js';
import {
  Outbox,
  type FrameSink,
  type OutboundFrame,
  type OutboxHost,
  type OutboxWatcher,
} from './outbox.js';
import { fixedJson, fixedJsonFrame, padJsonText } from './padding.js';
import { NODE_TIMERS, type ShaperTimers } from './timers.js';

// The shaper's users import every type of it from here.
export type { FrameSink, OutboundFrame, Outbox, OutboxWatcher, ShaperTimers };

export interface TrafficShaperOptions {
  /** Inclusive delay range of jittered frames, ms (ENTROPY_JITTER_MS). */
  jitterMs: readonly [number, number];
  /** Pacing interval, ms (ENTROPY_PACING_MS). */
  pacingMs: number;
  /** Pacing stops this long after the last real traffic, ms (ENTROPY_PACING_IDLE_MS). */
  pacingIdleMs: number;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
  /** Called when a jittered frame is written, with (write time − due time) in ms. */
  onLateness?: (ms: number) => void;
  /** Delay source for jittered frames (default: CSPRNG, uniform over [min, max]). */
  drawJitterMs?: (min: number, max: number) => number;
  /** Per outbox: bytes waiting or handed to the socket and not yet written out, above which
   *  bounded frames are refused (ENTROPY_MAX_SOCKET_BUFFER_BYTES). Default: unbounded. */
  maxBufferedBytes?: number;
  /** How long an outbox may stay over maxBufferedBytes before onStalled (ENTROPY_SLOW_READER_GRACE_MS). */
  stallGraceMs?: number;
  timers?: ShaperTimers;
}

const DUMMY_PACING_TEXT = JSON.stringify({ type: 'dummy_pacing' });
const DUMMY_PACING = fixedJson({ type: 'dummy_pacing' });
/** Pacing ticks per interval; each visits one slice of the paced outboxes. */
const PACING_SLICES = 10;

/** Per-process scheduler of all outbound WebSocket frames. */
export class TrafficShaper implements OutboxHost {
  /** @internal */
  readonly now: () => number;
  /** @internal */
  readonly onLateness: ((ms: number) => void) | undefined;
  /** @internal */
  readonly pacingIdleMs: number;
  /** @internal */
  readonly maxBufferedBytes: number;
  /** @internal */
  readonly stallGraceMs: number;
  /** @internal */
  readonly timers: ShaperTimers;
  private outboxes = 0;
  /** Bytes held by all outboxes (waiting or in flight). */
  private held = 0;
  /** The most bytes one outbox has held at once since start. */
  private peak = 0;
  private written = 0;
  private dummies = 0;
  private readonly heap = new DueHeap<Outbox>();
  /** Paced outboxes with real traffic within pacingIdleMs, by pacing slice: the only ones a
   *  pacing tick visits. */
  private readonly active: Array<Set<Outbox>> = Array.from(
    { length: PACING_SLICES },
    () => new Set(),
  );
  private tickSlice = 0;
  private sliceCursor = 0;
  private readonly jitterMin: number;
  private readonly jitterMax: number;
  private readonly pacingMs: number;
  private readonly draw: (min: number, max: number) => number;
  private stopped = false;
  private dueTimer: unknown;
  /** Due time the timer was armed for (Infinity when not armed). */
  private armedFor = Infinity;
  private pacingTimer: unknown;

  constructor(opts: TrafficShaperOptions) {
    const [min, max] = opts.jitterMs;
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max < min) {
      throw new RangeError(`invalid jitter range ${min}-${max}`);
    }
    if (!(opts.pacingMs > 0)) throw new RangeError(`invalid pacing interval ${opts.pacingMs}`);
    if (!(opts.pacingIdleMs >= 0)) throw new RangeError(`invalid pacing idle ${opts.pacingIdleMs}`);
    this.jitterMin = min;
    this.jitterMax = max;
    this.pacingMs = opts.pacingMs;
    this.pacingIdleMs = opts.pacingIdleMs;
    this.now = opts.now ?? (() => performance.now());
    this.onLateness = opts.onLateness;
    this.draw = opts.drawJitterMs ?? drawJitterMs;
    this.timers = opts.timers ?? NODE_TIMERS;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? Infinity;
    this.stallGraceMs = opts.stallGraceMs ?? 10_000;
  }

  /** A new outbox for a socket; `watcher` hears when its backlog stalls or drains. */
  attach(sink: FrameSink, watcher?: OutboxWatcher): Outbox {
    this.outboxes++;
    return new Outbox(this, sink, watcher);
  }

  /** Stops the shared timers (relay shutdown). Frames still waiting are left to close(). */
  stop(): void {
    this.stopped = true;
    this.disarm();
    if (this.pacingTimer !== undefined) {
      this.timers.clearInterval(this.pacingTimer);
      this.pacingTimer = undefined;
    }
  }

  get outboxCount(): number {
    return this.outboxes;
  }

  /** Bytes all outboxes hold: waiting for their time, or handed to a socket not done writing. */
  get heldBytes(): number {
    return this.held;
  }

  /** The most bytes any one outbox has held at once since start. */
  get peakOutboxBytes(): number {
    return this.peak;
  }

  /** Frames whose send callback reported success (dummies included). */
  get framesWritten(): number {
    return this.written;
  }

  /** `dummy_pacing` frames whose send callback reported success. */
  get dummiesWritten(): number {
    return this.dummies;
  }

  /** Outboxes with frames waiting for the due timer. */
  get scheduledOutboxes(): number {
    return this.heap.size;
  }

  /** Paced outboxes with recent real traffic (visited by pacing ticks). */
  get pacingOutboxes(): number {
    let count = 0;
    for (const slice of this.active) count += slice.size;
    return count;
  }

  /** @internal */
  jitterDelay(): number {
    return this.draw(this.jitterMin, this.jitterMax);
  }

  /** @internal */
  nextPacingSlice(): number {
    this.sliceCursor = (this.sliceCursor + 1) % PACING_SLICES;
    return this.sliceCursor;
  }

  /** @internal */
  noteHeld(delta: number, outboxBytes: number): void {
    this.held += delta;
    if (outboxBytes > this.peak) this.peak = outboxBytes;
  }

  /** @internal */
  noteWritten(): void {
    this.written++;
  }

  /** @internal */
  schedule(outbox: Outbox): void {
    if (this.stopped || outbox.heapIndex >= 0) return;
    outbox.dueAt = outbox.headDue();
    this.heap.push(outbox);
    if (outbox.dueAt < this.armedFor) this.arm();
  }

  /** @internal */
  unschedule(outbox: Outbox): void {
    // The timer stays armed: if it fires with nothing due, it re-arms for the new earliest.
    this.heap.remove(outbox);
  }

  /** @internal */
  activate(outbox: Outbox): void {
    if (this.stopped) return;
    this.active[outbox.pacingSlice]!.add(outbox);
    outbox.pacingActive = true;
    if (this.pacingTimer === undefined) {
      this.pacingTimer = this.timers.setInterval(this.onPacingTick, this.pacingMs / PACING_SLICES);
      (this.pacingTimer as { unref?: () => void }).unref?.();
    }
  }

  /** @internal */
  detach(outbox: Outbox): void {
    this.heap.remove(outbox);
    this.active[outbox.pacingSlice]!.delete(outbox);
    outbox.pacingActive = false;
    this.outboxes--;
  }

  private disarm(): void {
    if (this.dueTimer !== undefined) {
      this.timers.clearTimeout(this.dueTimer);
      this.dueTimer = undefined;
    }
    this.armedFor = Infinity;
  }

  /** (Re-)arms the single due timer for the earliest head frame. */
  private arm(): void {
    this.disarm();
    const first = this.heap.peek();
    if (first === undefined || this.stopped) return;
    this.armedFor = first.dueAt;
    const delay = Math.max(0, Math.ceil(first.dueAt - this.now()));
    this.dueTimer = this.timers.setTimeout(this.onDueTimer, delay);
  }

  private readonly countDummy = (): void => {
    this.dummies++;
  };

  private readonly onDueTimer = (): void => {
    this.dueTimer = undefined;
    this.armedFor = Infinity;
    // Node may fire a timer slightly before `due` by this clock (its loop time is cached), so
    // only what is really due is written; the rest waits for the re-armed timer.
    const now = this.now();
    const heap = this.heap;
    for (let outbox = heap.peek(); outbox !== undefined && outbox.dueAt <= now;) {
      heap.pop();
      if (outbox.flush(now)) {
        outbox.dueAt = outbox.headDue();
        heap.push(outbox);
      }
      outbox = heap.peek();
    }
    this.arm();
  };

  /** @internal A `dummy_pacing` frame, its padding drawn afresh; a complete WebSocket frame for
   *  a sink that takes those. */
  dummyFrame(framed: boolean): OutboundFrame {
    return {
      data: framed ? fixedJsonFrame(DUMMY_PACING) : padJsonText(DUMMY_PACING_TEXT),
      binary: false,
      framed,
      real: false,
      jitter: false,
      onWritten: this.countDummy,
    };
  }

  private readonly onPacingTick = (): void => {
    const now = this.now();
    // Each tick visits one slice, so a session is visited once per interval and the dummies of
    // thousands of sessions are spread over the interval instead of leaving in one burst.
    const slice = this.active[this.tickSlice]!;
    this.tickSlice = (this.tickSlice + 1) % PACING_SLICES;
    for (const outbox of slice) {
      if (now - outbox.lastRealAt > this.pacingIdleMs) {
        slice.delete(outbox);
        outbox.pacingActive = false;
      } else {
        outbox.pace();
      }
    }
    if (this.pacingOutboxes === 0 && this.pacingTimer !== undefined) {
      this.timers.clearInterval(this.pacingTimer);
      this.pacingTimer = undefined;
    }
  };
}
