// Pub/sub for cross-instance delivery (sharded pub/sub on a cluster): publishing on the command
// connection, one handler per channel on the dedicated subscriber connection. ioredis restores
// subscriptions after a reconnection; channels whose UNSUBSCRIBE failed during an outage are
// dropped then, and the owner hears that notifications may have been lost meanwhile.
import type { Logger } from '../../log.js';
import type { ChannelHandler } from '../store.js';
import type { RedisClient } from './connection.js';

export class Channels {
  private readonly handlers = new Map<string, ChannelHandler>();
  /** Channels whose UNSUBSCRIBE failed during an outage: dropped after reconnection. */
  private readonly staleChannels = new Set<string>();
  private readonly resubscribed: Array<() => void> = [];
  private readyBefore = false;
  private closed = false;

  constructor(
    private readonly client: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly sharded: boolean,
    private readonly logger: Logger,
  ) {
    // ioredis resubscribes right after emitting 'ready': drop stale channels after that.
    subscriber.on('ready', () =>
      queueMicrotask(() => {
        this.dropStaleChannels();
        // Notifications published while the subscriber was away are lost: tell the owner.
        if (this.readyBefore) for (const listener of this.resubscribed) listener();
        this.readyBefore = true;
      }),
    );
    // A cluster replaces the sharded subscriber of a failed master and resubscribes its
    // channels without a 'ready' of its own: it says 'subscribersReady' once done.
    if (sharded) {
      subscriber.on('subscribersReady', () => {
        if (this.readyBefore) for (const listener of this.resubscribed) listener();
      });
    }
    subscriber.on(sharded ? 'smessage' : 'message', (channel: string, message: string) =>
      this.dispatch(channel, message),
    );
  }

  /** Resolves to the number of receiving subscribers. */
  async publish(channel: string, message: string): Promise<number> {
    const receivers = this.sharded
      ? await this.client.spublish(channel, message)
      : await this.client.publish(channel, message);
    return Number(receivers);
  }

  onResubscribed(listener: () => void): void {
    this.resubscribed.push(listener);
  }

  /** Throws (and keeps no handler) when Redis refuses or is unreachable. */
  async subscribe(channel: string, handler: ChannelHandler): Promise<void> {
    this.handlers.set(channel, handler);
    this.staleChannels.delete(channel);
    try {
      await (this.sharded
        ? this.subscriber.ssubscribe(channel)
        : this.subscriber.subscribe(channel));
    } catch (err) {
      this.handlers.delete(channel);
      throw err;
    }
  }

  /** Never fails: during an outage the handler goes at once, the channel when Redis is back. */
  async unsubscribe(channel: string): Promise<void> {
    if (!this.handlers.delete(channel) || this.closed) return;
    try {
      await this.unsubscribeChannel(channel);
    } catch {
      this.staleChannels.add(channel);
    }
  }

  /** Forgets every handler (the store is closing). */
  close(): void {
    this.closed = true;
    this.handlers.clear();
  }

  private async unsubscribeChannel(channel: string): Promise<void> {
    await (this.sharded
      ? this.subscriber.sunsubscribe(channel)
      : this.subscriber.unsubscribe(channel));
  }

  private dropStaleChannels(): void {
    for (const channel of this.staleChannels) {
      if (this.handlers.has(channel)) {
        this.staleChannels.delete(channel);
        continue;
      }
      this.unsubscribeChannel(channel).then(
        () => this.staleChannels.delete(channel),
        () => undefined,
      );
    }
  }

  private dispatch(channel: string, message: string): void {
    const handler = this.handlers.get(channel);
    if (!handler) return;
    try {
      handler(message);
    } catch (err) {
      this.logger.error({ err }, 'Channel handler failed');
    }
  }
}
