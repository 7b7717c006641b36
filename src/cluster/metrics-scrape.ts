// A scrape of /metrics in the primary asks each worker for its registry over IPC and matches the
// answers to the requests (cluster-metrics.ts merges them). A worker that does not answer in
// time counts with its previous answer, so one slow or dying worker does not fail the scrape.
import type { Counter } from 'prom-client';
import { withTimeout } from '../time.js';
import type { MetricsSnapshot } from './messages.js';
import type { WorkerProcess } from './worker-process.js';

/** How long a scrape waits for a worker's metrics before using its previous answer. */
const SCRAPE_TIMEOUT_MS = 2000;

export class MetricsScrape {
  private requests = 0;
  private readonly waiters = new Map<number, (metrics: MetricsSnapshot) => void>();

  /** `misses` counts the answers that did not come in time. */
  constructor(private readonly misses: Counter) {}

  /** The metrics of each of `workers`: its answer, or its previous one if it does not answer. */
  collect(workers: WorkerProcess[]): Promise<MetricsSnapshot[]> {
    return Promise.all(
      workers.map(async (proc) => {
        const id = ++this.requests;
        try {
          const answer = new Promise<MetricsSnapshot>((resolve) => this.waiters.set(id, resolve));
          await proc.send({ type: 'entropy:metrics', id });
          const metrics = await withTimeout(answer, SCRAPE_TIMEOUT_MS);
          if (metrics) return metrics;
        } catch {
          // not connected any more: its previous answer
        } finally {
          this.waiters.delete(id);
        }
        this.misses.inc();
        return proc.lastMetrics ?? [];
      }),
    );
  }

  /** A worker's `entropy:metrics` answer to request `id`. */
  answered(proc: WorkerProcess, id: number, metrics: MetricsSnapshot): void {
    proc.lastMetrics = metrics;
    this.waiters.get(id)?.(metrics);
  }
}
