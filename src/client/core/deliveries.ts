// The messages the relay delivers (msg, queued_message): each is emitted once per id in the
// session's lifetime, however often the relay delivers it again, and acked every time it comes.
// Acks are batched: one `ack` frame after each batch of socket events.

const SEEN_IDS_MAX = 10_000;
/** After the current batch of socket events: setImmediate in Node, a task in browsers. */
const defer: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => setImmediate(fn) : (fn) => setTimeout(fn, 0);

export class Deliveries {
  private readonly seenIds = new Set<string>();
  private pendingAcks: string[] = [];

  constructor(
    /** Whether each delivery is acked as it arrives. */
    private readonly autoAck: boolean,
    /** Sends an `ack` frame for `ids` if the socket is open. */
    private readonly sendAcks: (ids: string[]) => void,
  ) {}

  /** Emits a delivery once per id in this session's lifetime; acks it every time. */
  deliver(id: unknown, emit: () => void): void {
    if (typeof id !== 'string') return emit();
    if (this.autoAck) this.queueAck(id);
    if (this.seenIds.has(id)) return;
    this.seenIds.add(id);
    if (this.seenIds.size > SEEN_IDS_MAX) this.seenIds.delete(this.seenIds.values().next().value!);
    emit();
  }

  /** Sends the acks queued so far, now. */
  flushAcks(): void {
    const ids = this.pendingAcks;
    this.pendingAcks = [];
    this.sendAcks(ids);
  }

  /** Forgets the queued acks: the socket closed, and the relay delivers those items again. */
  dropAcks(): void {
    this.pendingAcks = [];
  }

  private queueAck(id: string): void {
    if (this.pendingAcks.push(id) === 1) defer(() => this.flushAcks());
  }
}
