// Redis memory as the bound of offline storage (maxmemory with noeviction): what each master
// says in INFO memory, and a high-water mark polled from it so that offline messages are refused
// before Redis is full, keeping room for logins and rate-limit buckets.
import { Cluster } from 'ioredis';
import type { RedisClient } from './connection.js';

export interface MemoryInfo {
  used: number;
  /** 0: no limit. */
  max: number;
  policy: string;
}

const POLL_MS = 1000;

export function parseMemoryInfo(info: string): MemoryInfo {
  const field = (name: string): string => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1] ?? '';
  return {
    used: Number(field('used_memory')),
    max: Number(field('maxmemory')),
    policy: field('maxmemory_policy').trim(),
  };
}

/** INFO memory of every master (the one server when not a cluster). */
export async function mastersMemory(client: RedisClient): Promise<MemoryInfo[]> {
  const masters = client instanceof Cluster ? client.nodes('master') : [client];
  return Promise.all(masters.map(async (node) => parseMemoryInfo(await node.info('memory'))));
}

/**
 * Polls every master about once a second. `reached` is true while any master uses at least
 * `percent` % of its maxmemory: a simplification on a cluster, where a full master refuses
 * offline messages for every recipient, not only those whose slots it holds.
 */
export class HighWaterMark {
  reached = false;
  /** The fullest bounded master's used_memory / maxmemory at the last poll (undefined: none). */
  use: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly client: RedisClient,
    private readonly percent: number,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
    void this.poll();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const masters = await mastersMemory(this.client);
      this.reached = masters.some((m) => m.max > 0 && m.used * 100 >= m.max * this.percent);
      const bounded = masters.filter((m) => m.max > 0).map((m) => m.used / m.max);
      this.use = bounded.length > 0 ? Math.max(...bounded) : undefined;
    } catch {
      // Unreachable: commands fail meanwhile anyway; the next poll tells.
    } finally {
      this.polling = false;
    }
  }
}
