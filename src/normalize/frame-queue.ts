// FIFO of items with their due times, for an outbox's frames; keeps its arrays, so no allocation
// per frame.

export class FrameQueue<T> {
  private items: (T | undefined)[] = [];
  private dues: number[] = [];
  private head = 0;
  private tail = 0;

  get length(): number {
    return this.tail - this.head;
  }

  /** Due time of the head item; only meaningful when length > 0. */
  headDue(): number {
    return this.dues[this.head]!;
  }

  push(item: T, due: number): void {
    this.items[this.tail] = item;
    this.dues[this.tail] = due;
    this.tail++;
  }

  shift(): T | undefined {
    if (this.head === this.tail) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.tail) {
      this.reset();
    } else if (this.head >= 1024 && this.head * 2 >= this.tail) {
      // Mostly consumed backlog: move the rest to the front.
      const { items, dues, head, tail } = this;
      items.copyWithin(0, head, tail);
      dues.copyWithin(0, head, tail);
      items.fill(undefined, tail - head, tail);
      this.tail = tail - head;
      this.head = 0;
    }
    return item;
  }

  drainInto(out: T[]): void {
    for (let i = this.head; i < this.tail; i++) {
      out.push(this.items[i]!);
      this.items[i] = undefined;
    }
    this.reset();
  }

  private reset(): void {
    this.head = 0;
    this.tail = 0;
    // Keep small arrays for reuse; let a burst's large ones go.
    if (this.items.length > 64) {
      this.items = [];
      this.dues = [];
    }
  }
}
