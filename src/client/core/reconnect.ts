// Reconnecting after the connection drops: each attempt waits an exponential backoff with jitter,
// and a successful connection starts the count afresh.

type Timer = ReturnType<typeof setTimeout>;

/** Exponential with jitter: uniform in [ceiling / 2, ceiling], ceiling = min·2^attempt ≤ max. */
export function backoffDelay(
  attempt: number,
  { minMs, maxMs }: { minMs: number; maxMs: number },
): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** attempt);
  return Math.max(minMs, Math.round(ceiling / 2 + (Math.random() * ceiling) / 2));
}

/** The next reconnection attempt: its number, its delay and its timer. */
export class Reconnects {
  private timer: Timer | null = null;
  private attempt = 0;

  constructor(private readonly backoff: { minMs: number; maxMs: number }) {}

  /** Whether an attempt waits for its timer. */
  get scheduled(): boolean {
    return this.timer !== null;
  }

  /** The number and delay of the next attempt (one more failure in a row). */
  next(): { attempt: number; delayMs: number } {
    const attempt = ++this.attempt;
    return { attempt, delayMs: backoffDelay(attempt, this.backoff) };
  }

  /** Runs `attempt` after `delayMs`. */
  schedule(delayMs: number, attempt: () => void): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      attempt();
    }, delayMs);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Connected: the next failure is the first in a row. */
  reset(): void {
    this.attempt = 0;
  }
}
