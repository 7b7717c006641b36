// Structured logging. Logs never carry a raw IP: only ipTag(ip), an HMAC under a salt
// that lives in memory and is replaced (the old one zeroed) at each UTC midnight.
import { createHmac, randomBytes } from 'node:crypto';
import { pino, type Logger, type DestinationStream } from 'pino';
import type { LogLevel } from './config.js';
import { DAY_MS } from './time.js';

export type { Logger };

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ sync: false }),
  );
}

export class IpBlinder {
  private salt = randomBytes(32);
  private day = IpBlinder.utcDay(Date.now());

  constructor(private readonly now: () => number = Date.now) {}

  private static utcDay(ms: number): number {
    return Math.floor(ms / DAY_MS);
  }

  /** HMAC-SHA-256(daily salt, ip), truncated to 16 hex chars. */
  tag(ip: string): string {
    const today = IpBlinder.utcDay(this.now());
    if (today !== this.day) {
      this.salt.fill(0);
      this.salt = randomBytes(32);
      this.day = today;
    }
    return createHmac('sha256', this.salt).update(ip).digest('hex').slice(0, 16);
  }
}
