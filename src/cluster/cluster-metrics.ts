// /metrics of a relay run as several processes: one text, as if from one process. The primary
// asks every worker for its registry (as JSON, over IPC) and merges them with its own using
// prom-client's AggregatorRegistry.aggregate: counters, histograms and most gauges are summed
// (sessions, open sockets, bytes), each metric by its own `aggregator` (peaks: max; event-loop
// lag: prom-client's own average/min/max). There is no per-worker label: a worker's identity
// changes with every restart, and would multiply every series by the number of workers.
//
// prom-client's own AggregatorRegistry.clusterMetrics() is not used: it asks every cluster
// worker, a worker still starting cannot answer, and one silent worker fails the whole scrape
// (prometheus/client_js#181, #501). Here a worker that does not answer in time counts with its
// last answer, and the counters and histograms of a worker that exits are carried over, so that
// the sums never go down (Prometheus would read a drop as a counter reset).
import { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { MetricsSnapshot } from './messages.js';

/** Counters and histograms: what keeps counting after a worker is gone. */
function cumulative(snapshot: MetricsSnapshot): MetricsSnapshot {
  return snapshot.filter((m) => ['counter', 'histogram'].includes(String(m.type)));
}

async function merge(snapshots: MetricsSnapshot[]): Promise<MetricsSnapshot> {
  return (await AggregatorRegistry.aggregate(snapshots).getMetricsAsJSON()) as MetricsSnapshot;
}

export class ClusterMetrics {
  /** The primary's own metrics. */
  readonly own = new Registry();
  readonly workers = new Gauge({
    name: 'entropy_workers',
    help: 'Worker processes serving connections',
    registers: [this.own],
  });
  readonly workerRestarts = new Counter({
    name: 'entropy_worker_restarts_total',
    help: 'Workers restarted after they exited unexpectedly',
    registers: [this.own],
  });
  /** Counted here: the primary reads the PROXY protocol headers. */
  readonly proxyHeadersRefused = new Counter({
    name: 'entropy_proxy_headers_refused_total',
    help: 'Connections destroyed before their PROXY protocol header was read, by reason',
    labelNames: ['reason'] as const,
    registers: [this.own],
  });
  readonly scrapeMisses = new Counter({
    name: 'entropy_worker_scrape_misses_total',
    help: 'Scrapes in which a worker did not answer in time (its previous answer was used)',
    registers: [this.own],
  });
  /** What exited workers had counted. */
  private retired: MetricsSnapshot = [];
  private retiring: Promise<void> = Promise.resolve();

  /** The registry the metrics listener serves: each scrape asks `collect` for the workers'. */
  readonly registry: Registry;

  constructor(collect: () => Promise<MetricsSnapshot[]>) {
    collectDefaultMetrics({ register: this.own, prefix: 'entropy_' });
    const own = this.own;
    const retired = async (): Promise<MetricsSnapshot> => {
      await this.retiring;
      return this.retired;
    };
    this.registry = new (class extends Registry {
      override async metrics(): Promise<string> {
        const workers = await collect();
        const mine = (await own.getMetricsAsJSON()) as MetricsSnapshot;
        return AggregatorRegistry.aggregate([mine, await retired(), ...workers]).metrics();
      }
    })();
  }

  /** Adds the counters and histograms of a worker that exited to what is reported. */
  retire(last: MetricsSnapshot): Promise<void> {
    this.retiring = this.retiring.then(async () => {
      this.retired = await merge([this.retired, cumulative(last)]);
    });
    return this.retiring;
  }
}
