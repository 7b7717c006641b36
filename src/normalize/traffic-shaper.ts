// Outbound scheduling (PROTOCOL.md §5): every server→client WebSocket frame passes through the
// outbox of its socket, which adds delivery jitter without reordering and sends `dummy_pacing`
// frames to sessions that recently had real traffic.
//
// One TrafficShaper serves every socket of the process with two timers in total: a single
// timeout armed for the earliest due frame of all outboxes (a min-heap holds each outbox with
// waiting frames once, keyed by the due time of its head frame), and a single pacing interval
// that only visits the outboxes active within pacingIdleMs.
import { performance } from 'node:perf_hooks';
import { DueHeap, type DueNode } from './due-heap.js';
import { drawJitterMs } from './jitter.js';
import { padJson } from './padding.js';

export interface OutboundFrame {
  /** Already padded by the caller (padJson / padBinary); written as is. */
  data: Buffer;
  binary: boolean;
  /** Real (non-dummy) frame: counts as traffic for pacing. */
  real: boolean;
  /**
   * Jittered deliveries (msg, queued_message, sealed_message, relayed frames, binary,
   * delivery_status) wait a CSPRNG-uniform delay in [jitterMin, jitterMax] ms; other frames
   * (auth_success, error, dummy_ack, dummy_pacing) have no added delay. Either way a frame never
   * leaves before a frame enqueued earlier on the same outbox:
   * due = max(now + delay, previous frame's due).
   */
  jitter: boolean;
  /** Called once the frame was written to the socket (ws send callback without error). */
  onWritten?: () => void;
  /** Opaque data the owner needs to recover the frame if it is never written (e.g. a queued message). */
  carries?: unknown;
  /**
   * A message frame, subject to the outbox's byte cap: refused (enqueue returns false) while the
   * outbox holds more than maxBufferedBytes, and from then on until it has drained to half of it,
   * so a refused message is never overtaken by a later one.
   */
  bounded?: boolean;
}

/** What the owner of an outbox hears about its backlog. */
export interface OutboxWatcher {
  /** The outbox stayed over its byte cap for stallGraceMs: the peer is not reading. */
  onStalled(): void;
  /** Bounded frames were refused and the backlog has since drained to half the cap. */
  onWritable(): void;
}

/** What an outbox writes to: a `ws` WebSocket satisfies it. */
export interface FrameSink {
  send(data: Buffer, options: { binary: boolean }, cb: (err?: Error) => void): void;
  readonly readyState: number; // 1 = OPEN
}

/**
 * The timer functions the shaper uses: the Node globals unless injected (tests count or fake
 * them). Handles are opaque; a handle with an `unref` method gets it called for the pacing interval.
 */
export interface ShaperTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

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

const OPEN = 1;
const TEXT_OPTIONS = Object.freeze({ binary: false });
const BINARY_OPTIONS = Object.freeze({ binary: true });
const DUMMY_PACING = { type: 'dummy_pacing' } as const;
/** Pacing ticks per interval; each visits one slice of the paced outboxes. */
const PACING_SLICES = 10;

const NODE_TIMERS: ShaperTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

/** FIFO of frames with their due times; keeps its arrays, so no allocation per frame. */
class FrameQueue {
  private frames: (OutboundFrame | undefined)[] = [];
  private dues: number[] = [];
  private head = 0;
  private tail = 0;

  get length(): number {
    return this.tail - this.head;
  }

  /** Due time of the head frame; only meaningful when length > 0. */
  headDue(): number {
    return this.dues[this.head]!;
  }

  push(frame: OutboundFrame, due: number): void {
    this.frames[this.tail] = frame;
    this.dues[this.tail] = due;
    this.tail++;
  }

  shift(): OutboundFrame | undefined {
    if (this.head === this.tail) return undefined;
    const frame = this.frames[this.head];
    this.frames[this.head++] = undefined;
    if (this.head === this.tail) {
      this.reset();
    } else if (this.head >= 1024 && this.head * 2 >= this.tail) {
      // Mostly consumed backlog: move the rest to the front.
      const { frames, dues, head, tail } = this;
      frames.copyWithin(0, head, tail);
      dues.copyWithin(0, head, tail);
      frames.fill(undefined, tail - head, tail);
      this.tail = tail - head;
      this.head = 0;
    }
    return frame;
  }

  drainInto(out: OutboundFrame[]): void {
    for (let i = this.head; i < this.tail; i++) {
      out.push(this.frames[i]!);
      this.frames[i] = undefined;
    }
    this.reset();
  }

  private reset(): void {
    this.head = 0;
    this.tail = 0;
    // Keep small arrays for reuse; let a burst's large ones go.
    if (this.frames.length > 64) {
      this.frames = [];
      this.dues = [];
    }
  }
}

/** State of one socket's outbox; the heap node of the shaper. */
class OutboxState implements DueNode {
  heapIndex = -1;
  dueAt = 0;
  /** Last real traffic in either direction (for the pacing idle window). */
  lastRealAt = -Infinity;
  /** A real frame was written since the last pacing tick. */
  realSinceTick = false;
  closed = false;
  /** Which slice of the pacing interval visits this outbox (spreads dummies over the interval). */
  readonly pacingSlice: number;
  private paced = false;
  /** The sink failed (send threw or a callback reported an error): nothing more is written. */
  private broken = false;
  private lastDue = -Infinity;
  /** Bytes of the frames waiting or in flight: what this socket makes the relay hold. */
  heldBytes = 0;
  /** A bounded frame was refused; cleared once the backlog drained to half the cap. */
  private spilled = false;
  private stallTimer: unknown;
  readonly waiting = new FrameQueue();
  /** Handed to the sink, callback not fired yet. ws fires send callbacks in send order. */
  private readonly inFlight = new FrameQueue();
  /** Handed to the sink, callback fired with an error. */
  private failed: OutboundFrame[] | undefined;

  constructor(
    private readonly core: ShaperCore,
    private readonly sink: FrameSink,
    private readonly watcher: OutboxWatcher | undefined,
  ) {
    this.pacingSlice = core.nextPacingSlice();
  }

  enqueue(frame: OutboundFrame): boolean {
    if (this.closed) return false;
    const core = this.core;
    const size = frame.data.length;
    // One frame larger than the cap is still taken by an empty outbox, or it could never leave.
    const over = this.heldBytes > 0 && this.heldBytes + size > core.maxBufferedBytes;
    if (frame.bounded && (this.spilled || over)) {
      this.spilled = true;
      this.watchStall();
      return false;
    }
    this.hold(size);
    const now = core.now();
    let due = frame.jitter ? now + core.jitterDelay() : now;
    if (due < this.lastDue) due = this.lastDue;
    this.lastDue = due;
    const wasEmpty = this.waiting.length === 0;
    this.waiting.push(frame, due);
    // A non-empty queue is already scheduled, or stalled on a dead sink or a stopped shaper.
    if (!wasEmpty) return true;
    // Nothing ahead of it and nothing to wait for: write now, not on the next timer tick.
    if (due <= now ? this.flush(now) : this.writable()) core.schedule(this);
    return true;
  }

  /**
   * Writes every waiting frame due by `now`, in order. Returns true if frames remain that a
   * timer should write later; false if the queue is empty or the sink cannot take frames.
   */
  flush(now: number): boolean {
    const { waiting, inFlight, sink, core } = this;
    while (waiting.length > 0) {
      const due = waiting.headDue();
      if (due > now) return true;
      if (this.broken || sink.readyState !== OPEN) return false;
      const frame = waiting.shift()!;
      inFlight.push(frame, due);
      try {
        sink.send(frame.data, frame.binary ? BINARY_OPTIONS : TEXT_OPTIONS, this.onSent);
      } catch {
        // The frame stays in flight (never confirmed): close() hands it back.
        this.broken = true;
        return false;
      }
      if (this.closed) return false;
      if (frame.jitter) core.onLateness?.(now - due);
      if (frame.real) {
        this.realSinceTick = true;
        this.noteReal(now);
      }
    }
    return false;
  }

  private hold(bytes: number): void {
    this.heldBytes += bytes;
    const core = this.core;
    core.heldBytes += bytes;
    if (this.heldBytes > core.peakOutboxBytes) core.peakOutboxBytes = this.heldBytes;
    this.watchStall();
  }

  private release(bytes: number): void {
    this.heldBytes -= bytes;
    const core = this.core;
    core.heldBytes -= bytes;
    if (this.spilled && this.heldBytes <= core.maxBufferedBytes / 2) {
      this.spilled = false;
      this.watcher?.onWritable();
    }
    this.watchStall();
  }

  /** Refusing frames, or over the cap: the stall timer runs; drained: it stops. */
  private get backlogged(): boolean {
    return this.spilled || this.heldBytes > this.core.maxBufferedBytes;
  }

  private watchStall(): void {
    if (!this.backlogged) this.clearStallTimer();
    else if (this.stallTimer === undefined && this.watcher && !this.closed) {
      this.stallTimer = this.core.timers.setTimeout(this.onStallTimer, this.core.stallGraceMs);
    }
  }

  private clearStallTimer(): void {
    if (this.stallTimer === undefined) return;
    this.core.timers.clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  private readonly onStallTimer = (): void => {
    this.stallTimer = undefined;
    if (!this.closed && this.backlogged) this.watcher?.onStalled();
  };

  private readonly onSent = (err?: Error | null): void => {
    if (this.closed) return;
    const frame = this.inFlight.shift();
    if (frame === undefined) return;
    this.release(frame.data.length);
    if (err) {
      (this.failed ??= []).push(frame);
      // Writing later frames after a lost one would break the order; the socket is going away.
      this.broken = true;
      this.core.unschedule(this);
      return;
    }
    this.core.framesWritten++;
    frame.onWritten?.();
  };

  writable(): boolean {
    return !this.broken && !this.closed && this.sink.readyState === OPEN;
  }

  enablePacing(): void {
    if (this.closed) return;
    this.paced = true;
    if (this.core.now() - this.lastRealAt <= this.core.pacingIdleMs) this.core.activate(this);
  }

  noteInboundReal(): void {
    if (!this.closed) this.noteReal(this.core.now());
  }

  noteReal(now: number): void {
    this.lastRealAt = now;
    if (this.paced && !this.closed) this.core.activate(this);
  }

  /** Pacing tick for an outbox with real traffic within the idle window. */
  pace(dummy: OutboundFrame): void {
    if (this.realSinceTick) {
      this.realSinceTick = false;
    } else if (this.writable() && this.heldBytes < this.core.maxBufferedBytes) {
      this.enqueue(dummy);
    }
  }

  close(): OutboundFrame[] {
    if (this.closed) return [];
    this.closed = true;
    this.clearStallTimer();
    this.core.heldBytes -= this.heldBytes;
    this.heldBytes = 0;
    this.core.detach(this);
    const frames = this.failed ?? [];
    this.failed = undefined;
    this.inFlight.drainInto(frames);
    this.waiting.drainInto(frames);
    return frames;
  }
}

class ShaperCore {
  readonly now: () => number;
  readonly onLateness: ((ms: number) => void) | undefined;
  readonly pacingIdleMs: number;
  readonly maxBufferedBytes: number;
  readonly stallGraceMs: number;
  readonly timers: ShaperTimers;
  outboxCount = 0;
  /** Bytes held by all outboxes (waiting or in flight). */
  heldBytes = 0;
  /** The most bytes one outbox has held at once since start. */
  peakOutboxBytes = 0;
  framesWritten = 0;
  dummiesWritten = 0;
  readonly heap = new DueHeap<OutboxState>();
  /** Paced outboxes with real traffic within pacingIdleMs, by pacing slice: the only ones a
   *  pacing tick visits. */
  readonly active: Array<Set<OutboxState>> = Array.from({ length: PACING_SLICES }, () => new Set());
  private tickSlice = 0;
  private sliceCursor = 0;

  nextPacingSlice(): number {
    this.sliceCursor = (this.sliceCursor + 1) % PACING_SLICES;
    return this.sliceCursor;
  }

  get pacedCount(): number {
    let count = 0;
    for (const slice of this.active) count += slice.size;
    return count;
  }
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

  jitterDelay(): number {
    return this.draw(this.jitterMin, this.jitterMax);
  }

  readonly countDummy = (): void => {
    this.dummiesWritten++;
  };

  /** Puts an outbox whose queue just became non-empty in the heap. */
  schedule(outbox: OutboxState): void {
    if (this.stopped || outbox.heapIndex >= 0) return;
    outbox.dueAt = outbox.waiting.headDue();
    this.heap.push(outbox);
    if (outbox.dueAt < this.armedFor) this.arm();
  }

  unschedule(outbox: OutboxState): void {
    // The timer stays armed: if it fires with nothing due, it re-arms for the new earliest.
    this.heap.remove(outbox);
  }

  activate(outbox: OutboxState): void {
    if (this.stopped) return;
    this.active[outbox.pacingSlice]!.add(outbox);
    if (this.pacingTimer === undefined) {
      this.pacingTimer = this.timers.setInterval(this.onPacingTick, this.pacingMs / PACING_SLICES);
      (this.pacingTimer as { unref?: () => void }).unref?.();
    }
  }

  detach(outbox: OutboxState): void {
    this.heap.remove(outbox);
    this.active[outbox.pacingSlice]!.delete(outbox);
    this.outboxCount--;
  }

  stop(): void {
    this.stopped = true;
    this.disarm();
    if (this.pacingTimer !== undefined) {
      this.timers.clearInterval(this.pacingTimer);
      this.pacingTimer = undefined;
    }
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
        outbox.dueAt = outbox.waiting.headDue();
        heap.push(outbox);
      }
      outbox = heap.peek();
    }
    this.arm();
  };

  private readonly onPacingTick = (): void => {
    const now = this.now();
    // One padded dummy per tick, shared by every session paced in it: only its length is visible
    // on the wire (ws does not modify a server frame's payload; TLS hides the whitespace), and
    // padding one per session would dominate the cost of a tick.
    const dummy: OutboundFrame = {
      data: padJson(DUMMY_PACING),
      binary: false,
      real: false,
      jitter: false,
      onWritten: this.countDummy,
    };
    // Each tick visits one slice, so a session is visited once per interval and the dummies of
    // thousands of sessions are spread over the interval instead of leaving in one burst.
    const slice = this.active[this.tickSlice]!;
    this.tickSlice = (this.tickSlice + 1) % PACING_SLICES;
    for (const outbox of slice) {
      if (now - outbox.lastRealAt > this.pacingIdleMs) {
        slice.delete(outbox);
      } else {
        outbox.pace(dummy);
      }
    }
    if (this.pacedCount === 0 && this.pacingTimer !== undefined) {
      this.timers.clearInterval(this.pacingTimer);
      this.pacingTimer = undefined;
    }
  };
}

/** Per-process scheduler of all outbound WebSocket frames. */
export class TrafficShaper {
  readonly #core: ShaperCore;

  constructor(opts: TrafficShaperOptions) {
    this.#core = new ShaperCore(opts);
  }

  /** A new outbox for a socket; `watcher` hears when its backlog stalls or drains. */
  attach(sink: FrameSink, watcher?: OutboxWatcher): Outbox {
    this.#core.outboxCount++;
    return new Outbox(new OutboxState(this.#core, sink, watcher));
  }

  /** Stops the shared timers (relay shutdown). Frames still waiting are left to close(). */
  stop(): void {
    this.#core.stop();
  }

  get outboxCount(): number {
    return this.#core.outboxCount;
  }

  /** Bytes all outboxes hold: waiting for their time, or handed to a socket not done writing. */
  get heldBytes(): number {
    return this.#core.heldBytes;
  }

  /** The most bytes any one outbox has held at once since start. */
  get peakOutboxBytes(): number {
    return this.#core.peakOutboxBytes;
  }

  /** Frames whose send callback reported success (dummies included). */
  get framesWritten(): number {
    return this.#core.framesWritten;
  }

  /** `dummy_pacing` frames whose send callback reported success. */
  get dummiesWritten(): number {
    return this.#core.dummiesWritten;
  }

  /** Outboxes with frames waiting for the due timer. */
  get scheduledOutboxes(): number {
    return this.#core.heap.size;
  }

  /** Paced outboxes with recent real traffic (visited by pacing ticks). */
  get pacingOutboxes(): number {
    return this.#core.pacedCount;
  }
}

/** The outbound queue of one socket; created by TrafficShaper.attach. */
export class Outbox {
  readonly #state: OutboxState;

  /** @internal Use TrafficShaper.attach. */
  constructor(state: OutboxState) {
    this.#state = state;
  }

  /**
   * Schedules a frame. A frame due at once with nothing ahead of it (unjittered, idle outbox) is
   * handed to the sink before this returns. Returns false (and keeps nothing) once the outbox is
   * closed, or for a bounded frame while the backlog is over the cap, so the owner can fall back
   * (e.g. queue the message offline).
   */
  enqueue(frame: OutboundFrame): boolean {
    return this.#state.enqueue(frame);
  }

  /** Authenticated sessions are paced; call once auth succeeded. */
  enablePacing(): void {
    this.#state.enablePacing();
  }

  /** The client sent a real (non-dummy) frame: pacing stays active for pacingIdleMs. */
  noteInboundReal(): void {
    this.#state.noteInboundReal();
  }

  /**
   * Detaches from the shaper and returns every frame not yet confirmed written, in order —
   * including frames handed to the sink whose callback has not fired yet or fired with an error.
   * onWritten is never called for returned frames. Idempotent (a second call returns []).
   */
  close(): OutboundFrame[] {
    return this.#state.close();
  }

  /** Frames waiting (not yet handed to the sink). */
  get pending(): number {
    return this.#state.waiting.length;
  }

  /** Bytes waiting or handed to the sink and not yet written out. */
  get heldBytes(): number {
    return this.#state.heldBytes;
  }

  get closed(): boolean {
    return this.#state.closed;
  }
}
