// What per-IP store buckets are named with (docs/protocol.md §7): HMAC(salt of the UTC day, IP
// limit key). The salt is random, one per day, and shared by every instance through the store (the
// first instance's candidate wins), so every instance names an address's buckets alike. It
// rotates like the log salt: a day's salt expires from the store an hour after its day ends and
// each instance forgets (and overwrites) it when its day is over, so a snapshot of Redis or of a
// process taken later cannot tie an earlier day's bucket keys to addresses by trying them.
import { createHmac, randomBytes } from 'node:crypto';
import type { Store } from '../store/store.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../time.js';

/** A day's salt outlives its day by this much in the store (instances' clocks differ a little). */
const GRACE_MS = HOUR_MS;
/** How often the salts are looked after: tomorrow's is fetched within its last hour. */
const REFRESH_MS = 10 * MINUTE_MS;

export class IpSalt {
  /** Salt by UTC day (days since the epoch): today's and, near midnight, tomorrow's. */
  private readonly salts = new Map<number, Buffer>();
  private readonly learning = new Map<number, Promise<Buffer>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The tag of `ipKey` for today, 32 hex characters. Synchronous once today's salt is known;
   * otherwise fetched from the store first (rejects with StoreUnavailableError while it cannot
   * be asked).
   */
  tag(ipKey: string): string | Promise<string> {
    const day = this.today();
    const salt = this.salts.get(day);
    if (salt !== undefined) return hmac(salt, ipKey);
    return this.learn(day).then((learnt) => hmac(learnt, ipKey));
  }

  /** Learns today's salt (and tomorrow's in today's last hour); forgets earlier days'. */
  async refresh(): Promise<void> {
    const day = this.today();
    for (const [known, salt] of this.salts) {
      if (known < day) {
        salt.fill(0);
        this.salts.delete(known);
      }
    }
    await this.learn(day);
    if ((day + 1) * DAY_MS - this.now() <= HOUR_MS) await this.learn(day + 1);
  }

  /** Looks after the salts every REFRESH_MS until stop(); a failed refresh is tried again then. */
  start(): void {
    this.timer ??= setInterval(() => void this.refresh().catch(() => undefined), REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private today(): number {
    return Math.floor(this.now() / DAY_MS);
  }

  private learn(day: number): Promise<Buffer> {
    const known = this.salts.get(day);
    if (known !== undefined) return Promise.resolve(known);
    let pending = this.learning.get(day);
    if (pending === undefined) {
      const ttlMs = (day + 1) * DAY_MS + GRACE_MS - this.now();
      pending = this.store
        .dailySalt(day, randomBytes(32).toString('hex'), ttlMs)
        .then((hex) => {
          const salt = Buffer.from(hex, 'hex');
          if (day >= this.today()) this.salts.set(day, salt);
          return salt;
        })
        .finally(() => this.learning.delete(day));
      this.learning.set(day, pending);
    }
    return pending;
  }
}

function hmac(salt: Buffer, ipKey: string): string {
  return createHmac('sha256', salt).update(ipKey).digest('hex').slice(0, 32);
}
