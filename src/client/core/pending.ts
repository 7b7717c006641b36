// The session's requests that wait for the relay's answer, and which answer settles which: a
// delivery_status settles its relay (by id) or binary frame (they carry no id: in order per
// target), alias_subscribed its subscribe_alias, dummy_ack (or v1's pong) a ping or dummy. Each
// fails after its timeout, and all fail when the connection closes.
import { RelayClientError } from '../errors.js';
import type { DeliveryStatus, RelayErrorFrame } from './frames.js';

type Timer = ReturnType<typeof setTimeout>;

/** A request waiting for the relay's answer, failed after a timeout. */
export class Pending<T> {
  settled = false;
  readonly promise: Promise<T>;
  private settle!: { resolve: (value: T) => void; reject: (err: Error) => void };
  private readonly timer: Timer;

  constructor(timeoutMs: number, what: string) {
    this.promise = new Promise<T>((resolve, reject) => (this.settle = { resolve, reject }));
    this.timer = setTimeout(
      () =>
        this.reject(new RelayClientError(0, 'timeout', `No answer to ${what} in ${timeoutMs} ms`)),
      timeoutMs,
    );
  }

  resolve(value: T): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.settle.resolve(value);
  }

  reject(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.settle.reject(err);
  }
}

/** Every request of one session that waits for an answer from the relay. */
export class PendingReplies {
  /** By client id; a timed-out send stays until its late status arrives so that is not misread. */
  private readonly sends = new Map<string, Pending<DeliveryStatus>>();
  /** Binary frames carry no id: their statuses come back in order per target. */
  private readonly binarySends = new Map<string, Pending<DeliveryStatus>[]>();
  private aliasWaiters: { alias: string; pending: Pending<void> }[] = [];
  private pingWaiters: Pending<void>[] = [];

  /** Whether a relay with this client id still waits for its status. */
  isRelayPending(id: string): boolean {
    return this.sends.get(id)?.settled === false;
  }

  relay(id: string, timeoutMs: number): Pending<DeliveryStatus> {
    const pending = new Pending<DeliveryStatus>(timeoutMs, `relay ${id}`);
    this.sends.set(id, pending);
    return pending;
  }

  /** A binary frame to `target` (lower-case). */
  binary(target: string, timeoutMs: number): Pending<DeliveryStatus> {
    const pending = new Pending<DeliveryStatus>(timeoutMs, `binary frame to ${target}`);
    const queue = this.binarySends.get(target) ?? [];
    queue.push(pending);
    this.binarySends.set(target, queue);
    return pending;
  }

  subscribeAlias(alias: string, timeoutMs: number): Pending<void> {
    const pending = new Pending<void>(timeoutMs, `subscribe_alias ${alias}`);
    this.aliasWaiters.push({ alias, pending });
    return pending;
  }

  /** A frame the relay answers with dummy_ack (or pong): ping, dummy. */
  dummyAck(what: string, timeoutMs: number): Pending<void> {
    const pending = new Pending<void>(timeoutMs, what);
    this.pingWaiters.push(pending);
    return pending;
  }

  onStatus(status: DeliveryStatus): void {
    const byId = typeof status.id === 'string' ? this.sends.get(status.id) : undefined;
    if (byId) {
      this.sends.delete(status.id!);
      byId.resolve(status);
    } else {
      const target = String(status.target).toLowerCase();
      const queue = this.binarySends.get(target);
      queue?.shift()?.resolve(status);
      if (queue?.length === 0) this.binarySends.delete(target);
    }
  }

  onAliasSubscribed(alias: unknown): void {
    const i = this.aliasWaiters.findIndex((w) => w.alias === alias);
    if (i >= 0) this.aliasWaiters.splice(i, 1)[0]!.pending.resolve();
  }

  /** The relay answers subscribe_alias with alias_subscribed or an error (e.g. the limit). */
  onRelayError(err: RelayErrorFrame): void {
    this.aliasWaiters
      .shift()
      ?.pending.reject(new RelayClientError(0, err.code, err.message, err.retry_after));
  }

  onDummyAck(): void {
    this.pingWaiters.shift()?.resolve();
  }

  /** Fails every request (the connection closed). */
  failAll(err: Error): void {
    for (const pending of this.sends.values()) pending.reject(err);
    for (const queue of this.binarySends.values()) for (const pending of queue) pending.reject(err);
    for (const { pending } of this.aliasWaiters) pending.reject(err);
    for (const pending of this.pingWaiters) pending.reject(err);
    this.sends.clear();
    this.binarySends.clear();
    this.aliasWaiters = [];
    this.pingWaiters = [];
  }
}
