// The sessions of this instance, by address (identity hash, or a v1 alias), with what the
// offline queue needs to keep each address's deliveries in order.
import type { Delivery } from './deliveries.js';
import type { Carried, Endpoint } from './endpoint.js';

/** How many delivered queue ids an address remembers, so a drain never hands one twice. */
const HANDED_IDS_KEPT = 10_000;
/** Live `msg` frames written and not acked yet that an address keeps (and their bytes, below). */
export const UNACKED_MAX_COUNT = 512;

export class LocalEntry {
  /** The queue is being drained: arrivals wait in `held` so they cannot overtake it. */
  draining = true;
  /** Something changed during a drain: drain again before releasing `held`. */
  redrain = false;
  /** Registered, first drain not started: arrivals are held until it has run. */
  awaitingDrain = true;
  held: Array<{ delivery: Delivery; carried?: Carried }> = [];
  /** The delay before the next try after a failed drain (0: the last drain worked). */
  drainRetryMs = 0;
  drainRetryPending = false;
  /** Messages the session refused, being written to the queue in order. */
  spilling: Promise<void> | undefined;
  /** Ids of queued messages already handed to the session (a drain and a notification can race). */
  private handed: Set<string> | undefined;
  /**
   * The ledger: live messages written to the session that its client will ack, in no queue.
   * Written is not received: if the session ends before the ack they go back to the queue.
   */
  private unacked: Map<string, Carried> | undefined;
  unackedBytes = 0;

  constructor(readonly endpoint: Endpoint) {}

  remember(id: string): void {
    this.handed ??= new Set();
    this.handed.add(id);
    if (this.handed.size > HANDED_IDS_KEPT) {
      this.handed.delete(this.handed.values().next().value as string);
    }
  }

  wasHanded(id: string): boolean {
    return this.handed?.has(id) ?? false;
  }

  /**
   * Keeps a written live message until the client acks it (its status was already sent). Past
   * the bound (UNACKED_MAX_COUNT messages, `maxBytes`) the oldest leave the ledger: returned,
   * for the queue.
   */
  keepUntilAcked(carried: Carried, maxBytes: number): Carried[] {
    this.unacked ??= new Map();
    if (this.unacked.has(carried.id)) return [];
    this.unacked.set(carried.id, { ...carried, kept: true, notify: undefined });
    this.unackedBytes += carried.bytes ?? 0;
    const evicted: Carried[] = [];
    while (
      this.unacked.size > 1 &&
      (this.unacked.size > UNACKED_MAX_COUNT || this.unackedBytes > maxBytes)
    ) {
      const [id, oldest] = this.unacked.entries().next().value as [string, Carried];
      this.unacked.delete(id);
      this.unackedBytes -= oldest.bytes ?? 0;
      evicted.push(oldest);
    }
    return evicted;
  }

  /** Drops acked ids from the ledger; returns the ids it did not hold (they may be queued). */
  acked(ids: string[]): string[] {
    if (this.unacked === undefined || this.unacked.size === 0) return ids;
    const rest: string[] = [];
    for (const id of ids) {
      const carried = this.unacked.get(id);
      if (carried === undefined) rest.push(id);
      else {
        this.unacked.delete(id);
        this.unackedBytes -= carried.bytes ?? 0;
      }
    }
    return rest;
  }

  /** Empties the ledger, returning what the client never acked, oldest first. */
  takeUnacked(): Carried[] {
    const unacked = [...(this.unacked?.values() ?? [])];
    this.unacked = undefined;
    this.unackedBytes = 0;
    return unacked;
  }

  /** Empties `held`, returning the messages in it (held volatile frames are dropped). */
  takeHeld(): Carried[] {
    const held = this.held;
    this.held = [];
    return held.flatMap(({ carried }) => (carried ? [carried] : []));
  }
}

export class Registry {
  private readonly entries = new Map<string, LocalEntry>();

  get(address: string): LocalEntry | undefined {
    return this.entries.get(address);
  }

  has(address: string): boolean {
    return this.entries.has(address);
  }

  addresses(): IterableIterator<string> {
    return this.entries.keys();
  }

  /**
   * Makes `endpoint` the session of `address` here and returns the entry it replaces, if any
   * (its ledger is the caller's to requeue). With `replace: false` (v1 aliases) an address held
   * by another session is refused: null.
   */
  claim(address: string, endpoint: Endpoint, replace: boolean): LocalEntry | undefined | null {
    const previous = this.entries.get(address);
    if (previous?.endpoint === endpoint) return undefined;
    if (!replace && previous !== undefined) return null;
    const entry = new LocalEntry(endpoint);
    // Arrivals held for the replaced session never reached it: the new one gets them after its
    // first drain.
    if (previous) {
      entry.held = previous.held;
      previous.held = [];
    }
    this.entries.set(address, entry);
    return previous;
  }

  /** Forgets `address` if `endpoint` still holds it; returns the entry it had. */
  release(address: string, endpoint: Endpoint): LocalEntry | undefined {
    const entry = this.entries.get(address);
    if (entry?.endpoint !== endpoint) return undefined;
    this.entries.delete(address);
    return entry;
  }
}
