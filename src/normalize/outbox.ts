// The outbound queue of one socket (docs/protocol.md §5): frames leave in order, each at its due
// time, with a byte cap for message frames and a stall watch for peers that do not read. The shared
// timers that decide when an outbox flushes or is paced are the TrafficShaper's.
import type { DueNode } from './due-heap.js';
import { FrameQueue } from './frame-queue.js';
import type { ShaperTimers } from './timers.js';

export interface OutboundFrame {
  /** Already padded by the caller (padJson / padBinary); written as is. */
  data: Buffer;
  binary: boolean;
  /**
   * `data` is a complete WebSocket frame (padJsonFrame / padBinaryFrame / fixedJsonFrame),
   * handed to the sink's sendFrame(), which the sink must then have.
   */
  framed?: boolean;
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
  onWritten?: (frame: OutboundFrame) => void;
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
  send(data: Buffer, options: { binary: boolean }, cb: (err?: Error | null) => void): void;
  /** Writes a complete WebSocket frame as is, in one write (frames marked `framed`). */
  sendFrame?(frame: Buffer, cb: (err?: Error | null) => void): void;
  readonly readyState: number; // 1 = OPEN
}

/** @internal What an outbox needs from its shaper (TrafficShaper). */
export interface OutboxHost {
  readonly maxBufferedBytes: number;
  readonly stallGraceMs: number;
  readonly pacingIdleMs: number;
  readonly timers: ShaperTimers;
  readonly onLateness: ((ms: number) => void) | undefined;
  now(): number;
  jitterDelay(): number;
  nextPacingSlice(): number;
  /** Puts an outbox whose queue just became non-empty in the due heap. */
  schedule(outbox: Outbox): void;
  unschedule(outbox: Outbox): void;
  /** A fresh `dummy_pacing` frame (framed: a complete WebSocket frame). */
  dummyFrame(framed: boolean): OutboundFrame;
  /** Has the pacing ticks visit the outbox (it had real traffic). */
  activate(outbox: Outbox): void;
  detach(outbox: Outbox): void;
  /** The outbox holds `delta` bytes more (fewer when negative), `outboxBytes` in all. */
  noteHeld(delta: number, outboxBytes: number): void;
  noteWritten(): void;
}

const OPEN = 1;
const TEXT_OPTIONS = Object.freeze({ binary: false });
const BINARY_OPTIONS = Object.freeze({ binary: true });

/** The outbound queue of one socket; created by TrafficShaper.attach. */
export class Outbox implements DueNode {
  /** @internal */
  heapIndex = -1;
  /** @internal */
  dueAt = 0;
  /** @internal Last real traffic in either direction (for the pacing idle window). */
  lastRealAt = -Infinity;
  /** @internal In the shaper's set of paced outboxes (kept by the shaper). */
  pacingActive = false;
  /** @internal Which slice of the pacing interval visits this outbox (spreads dummies over the interval). */
  readonly pacingSlice: number;
  /** A real frame was written since the last pacing tick. */
  private realSinceTick = false;
  private isClosed = false;
  private paced = false;
  /** The sink failed (send threw or a callback reported an error): nothing more is written. */
  private broken = false;
  private lastDue = -Infinity;
  /** Bytes of the frames waiting or in flight: what this socket makes the relay hold. */
  private held = 0;
  /** A bounded frame was refused; cleared once the backlog drained to half the cap. */
  private spilled = false;
  private stallTimer: unknown;
  private readonly waiting = new FrameQueue<OutboundFrame>();
  /** Handed to the sink, callback not fired yet. ws fires send callbacks in send order. */
  private readonly inFlight = new FrameQueue<OutboundFrame>();
  /** Handed to the sink, callback fired with an error. */
  private failed: OutboundFrame[] | undefined;

  /** @internal Use TrafficShaper.attach. */
  constructor(
    private readonly host: OutboxHost,
    private readonly sink: FrameSink,
    private readonly watcher: OutboxWatcher | undefined,
  ) {
    this.pacingSlice = host.nextPacingSlice();
  }

  /**
   * Schedules a frame. A frame due at once with nothing ahead of it (unjittered, idle outbox) is
   * handed to the sink before this returns. Returns false (and keeps nothing) once the outbox is
   * closed, or for a bounded frame while the backlog is over the cap, so the owner can fall back
   * (e.g. queue the message offline).
   */
  enqueue(frame: OutboundFrame): boolean {
    if (this.isClosed) return false;
    const host = this.host;
    const size = frame.data.length;
    // One frame larger than the cap is still taken by an empty outbox, or it could never leave.
    const over = this.held > 0 && this.held + size > host.maxBufferedBytes;
    if (frame.bounded && (this.spilled || over)) {
      this.spilled = true;
      this.watchStall();
      return false;
    }
    this.hold(size);
    const now = host.now();
    let due = frame.jitter ? now + host.jitterDelay() : now;
    if (due < this.lastDue) due = this.lastDue;
    this.lastDue = due;
    const wasEmpty = this.waiting.length === 0;
    this.waiting.push(frame, due);
    // A non-empty queue is already scheduled, or stalled on a dead sink or a stopped shaper.
    if (!wasEmpty) return true;
    // Nothing ahead of it and nothing to wait for: write now, not on the next timer tick.
    if (due <= now ? this.flush(now) : this.writable()) host.schedule(this);
    return true;
  }

  /** Authenticated sessions are paced; call once auth succeeded. */
  enablePacing(): void {
    if (this.isClosed) return;
    this.paced = true;
    if (!this.pacingActive && this.host.now() - this.lastRealAt <= this.host.pacingIdleMs)
      this.host.activate(this);
  }

  /** The client sent a real (non-dummy) frame: pacing stays active for pacingIdleMs. */
  noteInboundReal(): void {
    if (!this.isClosed) this.noteReal(this.host.now());
  }

  /**
   * Detaches from the shaper and returns every frame not yet confirmed written, in order —
   * including frames handed to the sink whose callback has not fired yet or fired with an error.
   * onWritten is never called for returned frames. Idempotent (a second call returns []).
   */
  close(): OutboundFrame[] {
    if (this.isClosed) return [];
    this.isClosed = true;
    this.clearStallTimer();
    this.host.noteHeld(-this.held, 0);
    this.held = 0;
    this.host.detach(this);
    const frames = this.failed ?? [];
    this.failed = undefined;
    this.inFlight.drainInto(frames);
    this.waiting.drainInto(frames);
    return frames;
  }

  /** Frames waiting (not yet handed to the sink). */
  get pending(): number {
    return this.waiting.length;
  }

  /** Bytes waiting or handed to the sink and not yet written out. */
  get heldBytes(): number {
    return this.held;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** @internal Due time of the first waiting frame; only meaningful while one waits. */
  headDue(): number {
    return this.waiting.headDue();
  }

  /**
   * @internal Writes every waiting frame due by `now`, in order. Returns true if frames remain
   * that a timer should write later; false if the queue is empty or the sink cannot take frames.
   */
  flush(now: number): boolean {
    const { waiting, inFlight, sink, host } = this;
    while (waiting.length > 0) {
      const due = waiting.headDue();
      if (due > now) return true;
      if (this.broken || sink.readyState !== OPEN) return false;
      const frame = waiting.shift()!;
      inFlight.push(frame, due);
      try {
        if (frame.framed) sink.sendFrame!(frame.data, this.onSent);
        else sink.send(frame.data, frame.binary ? BINARY_OPTIONS : TEXT_OPTIONS, this.onSent);
      } catch {
        // The frame stays in flight (never confirmed): close() hands it back.
        this.broken = true;
        return false;
      }
      if (this.isClosed) return false;
      if (frame.jitter) host.onLateness?.(now - due);
      if (frame.real) {
        this.realSinceTick = true;
        this.noteReal(now);
      }
    }
    return false;
  }

  /** @internal Pacing tick for an outbox with real traffic within the idle window. */
  pace(): void {
    if (this.realSinceTick) {
      this.realSinceTick = false;
    } else if (this.writable() && this.held < this.host.maxBufferedBytes) {
      this.enqueue(this.host.dummyFrame(this.sink.sendFrame !== undefined));
    }
  }

  private noteReal(now: number): void {
    this.lastRealAt = now;
    if (this.paced && !this.pacingActive && !this.isClosed) this.host.activate(this);
  }

  private writable(): boolean {
    return !this.broken && !this.isClosed && this.sink.readyState === OPEN;
  }

  private hold(bytes: number): void {
    this.held += bytes;
    this.host.noteHeld(bytes, this.held);
    this.watchStall();
  }

  private release(bytes: number): void {
    this.held -= bytes;
    this.host.noteHeld(-bytes, this.held);
    if (this.spilled && this.held <= this.host.maxBufferedBytes / 2) {
      this.spilled = false;
      this.watcher?.onWritable();
    }
    this.watchStall();
  }

  /** Refusing frames, or over the cap: the stall timer runs; drained: it stops. */
  private get backlogged(): boolean {
    return this.spilled || this.held > this.host.maxBufferedBytes;
  }

  private watchStall(): void {
    if (!this.backlogged) this.clearStallTimer();
    else if (this.stallTimer === undefined && this.watcher && !this.isClosed) {
      this.stallTimer = this.host.timers.setTimeout(this.onStallTimer, this.host.stallGraceMs);
    }
  }

  private clearStallTimer(): void {
    if (this.stallTimer === undefined) return;
    this.host.timers.clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  private readonly onStallTimer = (): void => {
    this.stallTimer = undefined;
    if (!this.isClosed && this.backlogged) this.watcher?.onStalled();
  };

  private readonly onSent = (err?: Error | null): void => {
    if (this.isClosed) return;
    const frame = this.inFlight.shift();
    if (frame === undefined) return;
    this.release(frame.data.length);
    if (err) {
      (this.failed ??= []).push(frame);
      // Writing later frames after a lost one would break the order; the socket is going away.
      this.broken = true;
      this.host.unschedule(this);
      return;
    }
    this.host.noteWritten();
    frame.onWritten?.(frame);
  };
}
