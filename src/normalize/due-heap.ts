// Intrusive binary min-heap ordered by `dueAt`. Each node stores its own position, so removing
// an arbitrary node (a socket that closes while it has frames waiting) is O(log n) and the heap
// never holds stale entries.

export interface DueNode {
  /** Position in the heap, -1 when not in it. Owned by the heap. */
  heapIndex: number;
  /** Sort key; must not change while the node is in the heap. */
  dueAt: number;
}

export class DueHeap<T extends DueNode> {
  private readonly nodes: T[] = [];

  get size(): number {
    return this.nodes.length;
  }

  peek(): T | undefined {
    return this.nodes[0];
  }

  push(node: T): void {
    node.heapIndex = this.nodes.length;
    this.nodes.push(node);
    this.siftUp(node.heapIndex);
  }

  pop(): T | undefined {
    const top = this.nodes[0];
    if (top !== undefined) this.removeAt(0);
    return top;
  }

  remove(node: T): void {
    if (node.heapIndex >= 0 && this.nodes[node.heapIndex] === node) this.removeAt(node.heapIndex);
  }

  private removeAt(index: number): void {
    const nodes = this.nodes;
    const removed = nodes[index]!;
    const last = nodes.pop()!;
    removed.heapIndex = -1;
    if (last === removed) return;
    nodes[index] = last;
    last.heapIndex = index;
    this.siftDown(index);
    this.siftUp(last.heapIndex);
  }

  private siftUp(index: number): void {
    const nodes = this.nodes;
    const node = nodes[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = nodes[parentIndex]!;
      if (parent.dueAt <= node.dueAt) break;
      nodes[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    nodes[index] = node;
    node.heapIndex = index;
  }

  private siftDown(index: number): void {
    const nodes = this.nodes;
    const length = nodes.length;
    const node = nodes[index]!;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      let child = left;
      if (right < length && nodes[right]!.dueAt < nodes[left]!.dueAt) child = right;
      const childNode = nodes[child]!;
      if (childNode.dueAt >= node.dueAt) break;
      nodes[index] = childNode;
      childNode.heapIndex = index;
      index = child;
    }
    nodes[index] = node;
    node.heapIndex = index;
  }
}
