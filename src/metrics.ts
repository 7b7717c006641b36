// Prometheus metrics. One registry per relay instance (tests run several in one process).
// Labels never carry an identity hash, nickname or IP.
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type Metric,
  type MetricObjectWithValues,
  type MetricValueWithName,
} from 'prom-client';

/**
 * A histogram without labels for values observed per frame: observe() only adds to a few
 * numbers (prom-client's own observe validates and hashes labels on every call, which showed in
 * profiles of the relay's hot path). Registered with a prom-client registry, which formats it
 * like any histogram.
 */
export class FrameHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: number[];
  /** Per bucket, not cumulative; the last one counts values above every bound. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(registry: Registry, config: { name: string; help: string; buckets: number[] }) {
    this.name = config.name;
    this.help = config.help;
    this.bounds = [...config.buckets].sort((a, b) => a - b);
    this.counts = new Float64Array(this.bounds.length + 1);
    registry.registerMetric(this as unknown as Metric);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  async get(): Promise<Omit<MetricObjectWithValues<MetricValueWithName<string>>, 'collect'>> {
    const bucket = `${this.name}_bucket`;
    const values: MetricValueWithName<string>[] = [];
    let cumulative = 0;
    this.bounds.forEach((le, i) => {
      cumulative += this.counts[i]!;
      values.push({ labels: { le }, value: cumulative, metricName: bucket });
    });
    values.push(
      { labels: { le: '+Inf' }, value: this.count, metricName: bucket },
      { labels: {}, value: this.sum, metricName: `${this.name}_sum` },
      { labels: {}, value: this.count, metricName: `${this.name}_count` },
    );
    return {
      name: this.name,
      help: this.help,
      type: 'histogram' as never,
      values,
      aggregator: 'sum',
    };
  }
}

export class Metrics {
  readonly registry = new Registry();
  readonly activeConnections = new Gauge({
    name: 'entropy_active_connections',
    help: 'Authenticated WebSocket sessions on this instance',
    registers: [this.registry],
  });
  readonly openSockets = new Gauge({
    name: 'entropy_open_sockets',
    help: 'Open TCP connections (HTTP and WebSocket)',
    registers: [this.registry],
  });
  readonly connectionsRefused = new Counter({
    name: 'entropy_connections_refused_total',
    help: 'Connections destroyed at accept time by the per-IP cap',
    registers: [this.registry],
  });
  readonly proxyHeadersRefused = new Counter({
    name: 'entropy_proxy_headers_refused_total',
    help: 'Connections destroyed before their PROXY protocol header was read, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly httpRequests = new Counter({
    name: 'entropy_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'entropy_http_request_duration_seconds',
    help: 'HTTP request handling time',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly powVerifications = new Counter({
    name: 'entropy_pow_verifications_total',
    help: 'Proof-of-work verifications by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'entropy_rate_limited_total',
    help: 'Requests or frames refused by a token bucket, by bucket name',
    labelNames: ['bucket'] as const,
    registers: [this.registry],
  });
  readonly jailed = new Counter({
    name: 'entropy_jailed_total',
    help: 'Buckets jailed (temporary ignore)',
    labelNames: ['bucket'] as const,
    registers: [this.registry],
  });
  readonly storeErrors = new Counter({
    name: 'entropy_store_errors_total',
    help: 'Operations that failed because the store was unreachable',
    registers: [this.registry],
  });
  readonly messages = new Counter({
    name: 'entropy_messages_total',
    help: 'Relayed messages by outcome (delivered, queued, rejected, published)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly socketSpills = new Counter({
    name: 'entropy_socket_spills_total',
    help: 'Messages sent to the offline queue because their socket was over its byte cap',
    registers: [this.registry],
  });
  readonly unackedRequeued = new Counter({
    name: 'entropy_unacked_requeued_total',
    help: 'Live messages written to a session that ended before its client acked them, put back in the offline queue',
    registers: [this.registry],
  });
  readonly unackedLost = new Counter({
    name: 'entropy_unacked_lost_total',
    help: 'Written, unacked messages that could not go back to the offline queue (store refused or unreachable); each is logged',
    registers: [this.registry],
  });
  readonly slowReaderCloses = new Counter({
    name: 'entropy_slow_reader_closes_total',
    help: 'WebSockets closed for staying over their byte cap (4004 slow_reader)',
    registers: [this.registry],
  });
  /** Set by the WebSocket layer: reads the outbound scheduler's byte counts at scrape time. */
  outboxBytes: () => { held: number; peak: number } = () => ({ held: 0, peak: 0 });
  readonly socketBacklogBytes: Gauge = new Gauge({
    name: 'entropy_socket_backlog_bytes',
    help: 'Bytes waiting to be written to WebSockets (all sockets)',
    registers: [this.registry],
    collect: (): void => this.socketBacklogBytes.set(this.outboxBytes().held),
  });
  readonly socketBacklogPeakBytes: Gauge = new Gauge({
    name: 'entropy_socket_backlog_peak_bytes',
    help: 'Largest backlog one WebSocket has had since start (bounded by ENTROPY_MAX_SOCKET_BUFFER_BYTES plus one frame)',
    registers: [this.registry],
    // Across the workers of a cluster (src/cluster): the largest, not the sum.
    aggregator: 'max',
    collect: (): void => this.socketBacklogPeakBytes.set(this.outboxBytes().peak),
  });
  readonly queueRefused = new Counter({
    name: 'entropy_queue_refused_total',
    help: 'Messages the offline queue refused, by reason (invalid_recipient, mailbox_full, storage_full)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly queueDrained = new Counter({
    name: 'entropy_queue_drained_total',
    help: 'Offline queue items delivered on reconnect',
    registers: [this.registry],
  });

  /** Set at start-up: what the gauges below read at scrape time. */
  probes: {
    powDifficulty: () => number;
    storeUp: () => Promise<boolean>;
    storageUse: () => number | undefined;
  } = { powDifficulty: () => 0, storeUp: async () => false, storageUse: () => undefined };
  readonly powDifficulty: Gauge = new Gauge({
    name: 'entropy_pow_difficulty',
    // Several processes (--workers) merge into one sample: the highest, not their sum.
    aggregator: 'max',
    help: 'Difficulty a general PoW challenge asks now (ENTROPY_POW_BASE plus the load increase, capped)',
    registers: [this.registry],
    collect: (): void => this.powDifficulty.set(this.probes.powDifficulty()),
  });
  readonly storeUp: Gauge = new Gauge({
    name: 'entropy_store_up',
    aggregator: 'min',
    help: '1 when the store answered a ping at scrape time (within 1 s) and the server secret is known, else 0',
    registers: [this.registry],
    collect: async (): Promise<void> => this.storeUp.set((await this.probes.storeUp()) ? 1 : 0),
  });
  readonly storageUse: Gauge = new Gauge({
    name: 'entropy_offline_storage_ratio',
    aggregator: 'max',
    help: 'Share of the offline storage budget in use (memory: ENTROPY_QUEUE_TOTAL_BYTES; Redis: fullest master of maxmemory); NaN when unbounded',
    registers: [this.registry],
    collect: (): void => this.storageUse.set(this.probes.storageUse() ?? Number.NaN),
  });

  readonly deliveryJitter = new FrameHistogram(this.registry, {
    name: 'entropy_delivery_jitter_seconds',
    help: 'Jitter drawn for each delivery (uniform over ENTROPY_JITTER_MS)',
    buckets: [0.01, 0.02, 0.03, 0.04, 0.05],
  });
  readonly schedulingLateness = new FrameHistogram(this.registry, {
    name: 'entropy_frame_lateness_seconds',
    help: 'Time a jittered frame was written after its scheduled time',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'entropy_' });
  }
}
