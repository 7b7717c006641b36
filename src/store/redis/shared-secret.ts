// The secret every instance shares (PoW seeds, session tokens): the first instance's candidate
// wins and lives in Redis; each instance keeps it alive while it runs and puts it back if Redis
// lost it.
import type { Logger } from '../../log.js';
import { DAY_MS, HOUR_MS } from '../../time.js';
import type { RedisClient } from './connection.js';
import { SECRET_KEY } from './keys.js';
import { runScript } from './scripts.js';

const SECRET_TTL_MS = 30 * DAY_MS;
const SECRET_REFRESH_MS = HOUR_MS;

export class SharedSecret {
  private secret: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly client: RedisClient,
    private readonly logger: Logger,
  ) {}

  /** The secret in Redis, set to `candidate` if there was none. */
  async take(candidate: string): Promise<string> {
    const secret = await this.exchange(candidate);
    this.secret = secret;
    return secret;
  }

  /** Refreshes the secret every hour until stop(). */
  start(): void {
    this.timer = setInterval(() => void this.refresh(), SECRET_REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** Keeps the secret alive while this instance runs, and puts it back if Redis lost it. */
  async refresh(): Promise<void> {
    const ours = this.secret;
    if (ours === undefined || this.stopped) return;
    try {
      const current = await this.exchange(ours);
      if (current !== ours) {
        this.logger.warn(
          'The shared secret in Redis changed (Redis lost its data?): this instance keeps its ' +
            'own, so other instances may reject its PoW seeds and session tokens until it restarts',
        );
      }
    } catch {
      // Connection errors are already logged; the next reconnection or timer tick retries.
    }
  }

  private exchange(candidate: string): Promise<string> {
    return runScript<string>(this.client, 'sharedSecret', [SECRET_KEY], [candidate, SECRET_TTL_MS]);
  }
}
