// A typed event emitter that runs in Node and in browsers, with node:events' method set (so
// helpers written for EventEmitter — events.once(), test waits — accept the client's sessions).
// Unlike node:events, emitting 'error' without listeners does not throw: sessions never emit it.

type EventArgs<T, K extends keyof T> = T[K] extends unknown[] ? T[K] : never;

interface Entry {
  listener: unknown;
  once: boolean;
}

export class Emitter<T extends Record<keyof T, unknown[]>> {
  private readonly events = new Map<keyof T, Entry[]>();
  private maxListeners = 10;

  on<K extends keyof T>(eventName: K, listener: (...args: EventArgs<T, K>) => void): this {
    return this.add(eventName, listener, false, false);
  }

  addListener<K extends keyof T>(eventName: K, listener: (...args: EventArgs<T, K>) => void): this {
    return this.add(eventName, listener, false, false);
  }

  once<K extends keyof T>(eventName: K, listener: (...args: EventArgs<T, K>) => void): this {
    return this.add(eventName, listener, true, false);
  }

  prependListener<K extends keyof T>(
    eventName: K,
    listener: (...args: EventArgs<T, K>) => void,
  ): this {
    return this.add(eventName, listener, false, true);
  }

  prependOnceListener<K extends keyof T>(
    eventName: K,
    listener: (...args: EventArgs<T, K>) => void,
  ): this {
    return this.add(eventName, listener, true, true);
  }

  off<K extends keyof T>(eventName: K, listener: (...args: EventArgs<T, K>) => void): this {
    return this.removeListener(eventName, listener);
  }

  removeListener<K extends keyof T>(
    eventName: K,
    listener: (...args: EventArgs<T, K>) => void,
  ): this {
    const list = this.events.get(eventName);
    if (!list) return this;
    // Like node:events: the most recently added registration goes first.
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i]!.listener === listener) {
        list.splice(i, 1);
        break;
      }
    }
    if (list.length === 0) this.events.delete(eventName);
    return this;
  }

  removeAllListeners(eventName?: keyof T): this {
    if (eventName === undefined) this.events.clear();
    else this.events.delete(eventName);
    return this;
  }

  emit<K extends keyof T>(eventName: K, ...args: EventArgs<T, K>): boolean {
    const list = this.events.get(eventName);
    if (!list || list.length === 0) return false;
    for (const entry of [...list]) {
      if (entry.once) this.removeListener(eventName, entry.listener as never);
      (entry.listener as (...a: unknown[]) => void).apply(this, args);
    }
    return true;
  }

  listeners<K extends keyof T>(eventName: K): ((...args: EventArgs<T, K>) => void)[] {
    return (this.events.get(eventName) ?? []).map((e) => e.listener as never);
  }

  rawListeners<K extends keyof T>(eventName: K): ((...args: EventArgs<T, K>) => void)[] {
    return this.listeners(eventName);
  }

  listenerCount<K extends keyof T>(
    eventName: K,
    listener?: (...args: EventArgs<T, K>) => void,
  ): number {
    const list = this.events.get(eventName) ?? [];
    return listener === undefined
      ? list.length
      : list.filter((e) => e.listener === listener).length;
  }

  eventNames(): (keyof T & (string | symbol))[] {
    return [...this.events.keys()] as (keyof T & (string | symbol))[];
  }

  setMaxListeners(n: number): this {
    this.maxListeners = n;
    return this;
  }

  getMaxListeners(): number {
    return this.maxListeners;
  }

  private add(eventName: keyof T, listener: unknown, once: boolean, prepend: boolean): this {
    const entry: Entry = { listener, once };
    const list = this.events.get(eventName);
    if (!list) this.events.set(eventName, [entry]);
    else if (prepend) list.unshift(entry);
    else list.push(entry);
    return this;
  }
}
