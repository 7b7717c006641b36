// The primary process of `entropy-relay serve --workers N`. It owns the port: it accepts every
// connection and hands its socket to the worker that serves the client's address
// (connection-router.ts), so that every connection of one client IP lands in one process and
// the in-process per-IP limits (connection cap, local buckets, jails) hold as they do in a single
// process. It restarts a worker that dies (with backoff), drains every worker on SIGTERM/SIGINT,
// replaces them one at a time on SIGHUP, and serves /metrics for all of them (metrics-scrape.ts,
// cluster-metrics.ts). Each worker is a WorkerProcess (worker-process.ts).
import cluster, { type Worker } from 'node:cluster';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.js';
import { parseListenAddress } from '../config/kinds.js';
import { startMetricsListener, type MetricsListener } from '../http/metrics-listener.js';
import type { Logger } from '../log.js';
import { tlsMaterial } from '../server.js';
import type { TlsMaterial } from '../tls.js';
import { VERSION } from '../version.js';
import { ClusterMetrics } from './cluster-metrics.js';
import { ConnectionRouter } from './connection-router.js';
import { isMessage, type FromWorker } from './messages.js';
import { MetricsScrape } from './metrics-scrape.js';
import { WorkerProcess } from './worker-process.js';

/** First restart delay of a crashed worker; doubles with each crash in a row, up to the max. */
const RESTART_MIN_MS = 200;
const RESTART_MAX_MS = 15_000;
/** A worker that served this long before crashing starts the backoff afresh. */
const STABLE_MS = 60_000;
/** After SIGTERM, a worker still running this long after its relay's own deadlines is killed. */
const STOP_GRACE_MS = 15_000;

interface Slot {
  readonly index: number;
  /** The worker new connections of this slot go to. */
  serving: WorkerProcess | undefined;
  /** A worker being started for this slot (restart or replacement). */
  starting: WorkerProcess | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  crashes: number;
}

/** The worker entry point next to this module (.ts under tsx, .js once built). */
function workerEntry(): string {
  const self = fileURLToPath(import.meta.url);
  return fileURLToPath(new URL(`./worker-main${extname(self)}`, import.meta.url));
}

export class Primary {
  private readonly slots: Slot[];
  private readonly metrics: ClusterMetrics;
  private readonly scrape: MetricsScrape;
  private readonly router: ConnectionRouter;
  private tls: TlsMaterial | undefined;
  private metricsListener: MetricsListener | undefined;
  private listening = false;
  private stopping: Promise<number> | undefined;
  private reloading = false;
  /** Resolves with the exit status once stopped (by a signal or a fatal error). */
  readonly done: Promise<number>;
  private finish!: (code: number) => void;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    workers: number,
  ) {
    this.slots = Array.from({ length: workers }, (_, index) => ({
      index,
      serving: undefined,
      starting: undefined,
      restartTimer: undefined,
      crashes: 0,
    }));
    this.metrics = new ClusterMetrics(() => this.scrape.collect(this.scrapedWorkers()));
    this.scrape = new MetricsScrape(this.metrics.scrapeMisses);
    this.router = new ConnectionRouter(config, logger, this.slots, this.metrics);
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  /** Starts every worker, waits until all are ready, then listens. Rejects if one fails. */
  async start(): Promise<void> {
    this.tls = this.config.tls ? await tlsMaterial(this.config) : undefined;
    cluster.setupPrimary({ exec: workerEntry(), args: [], silent: false });
    const first = this.slots.map((slot) => this.fork(slot));
    // Before the relay listens, a worker that fails to start fails the start.
    const failed = Promise.race(
      first.map((w) =>
        w.exited.then(({ code, signal }) => {
          throw new Error(`worker ${w.slot} exited during start-up (${signal ?? code})`);
        }),
      ),
    );
    try {
      await Promise.race([Promise.all(first.map((w) => w.ready)), failed]);
    } catch (err) {
      await this.stopWorkers(false);
      throw err;
    }
    failed.catch(() => undefined);
    const metricsAt = parseListenAddress(this.config.metricsAddr);
    if (metricsAt) {
      this.metricsListener = await startMetricsListener(
        this.metrics.registry,
        metricsAt,
        this.config.handshakeTimeoutMs,
      );
    }
    const port = await this.router.listen();
    this.listening = true;
    const host =
      this.config.addr === '0.0.0.0'
        ? '127.0.0.1'
        : this.config.addr.includes(':')
          ? `[${this.config.addr}]`
          : this.config.addr;
    const url = `${this.tls ? 'https' : 'http'}://${host}:${port}`;
    if (this.metricsListener) this.logger.info(`Metrics at ${this.metricsListener.url}/metrics`);
    this.logger.info(
      { port, url, workers: this.slots.length, version: VERSION },
      'Entropy relay listening',
    );
  }

  private fork(slot: Slot): WorkerProcess {
    const proc = new WorkerProcess(cluster.fork(), slot.index);
    this.processes.set(proc.worker, proc);
    slot.starting = proc;
    proc.worker.on('message', (message: unknown) => this.onMessage(proc, message));
    proc.worker.on('error', (err: Error) =>
      this.logger.warn({ err, worker: slot.index }, 'worker channel error'),
    );
    void proc.exited.then(({ code, signal }) => this.onExit(proc, code, signal));
    return proc;
  }

  private onMessage(proc: WorkerProcess, message: unknown): void {
    if (!isMessage<FromWorker>(message)) return;
    switch (message.type) {
      case 'entropy:hello':
        void proc
          .send({ type: 'entropy:start', slot: proc.slot, config: this.config, tls: this.tls })
          .catch(() => undefined);
        return;
      case 'entropy:ready':
        this.onReady(proc);
        return;
      case 'entropy:refused':
        this.logger.fatal(
          { worker: proc.slot, reason: message.reason },
          'the store refuses to run',
        );
        void this.stop('store refused', 1);
        return;
      case 'entropy:metrics':
        this.scrape.answered(proc, message.id, message.metrics);
        return;
      case 'entropy:drained':
        proc.finalMetrics = message.metrics;
        return;
    }
  }

  private onReady(proc: WorkerProcess): void {
    const slot = this.slots[proc.slot]!;
    if (proc.state !== 'starting' || slot.starting !== proc) return;
    if (this.stopping) {
      proc.state = 'draining';
      void proc.send({ type: 'entropy:drain', settle: false }).catch(() => undefined);
      return;
    }
    const old = slot.serving;
    slot.starting = undefined;
    slot.serving = proc;
    proc.state = 'serving';
    proc.readyAt = Date.now();
    if (slot.restartTimer) clearTimeout(slot.restartTimer);
    slot.restartTimer = undefined;
    this.logger.info({ worker: proc.slot, pid: proc.pid }, 'worker ready');
    proc.markReady();
    this.countServing();
    // From here on the slot's new connections go to the new worker; the old one finishes what
    // it has (each channel is ordered: connections sent to it before this arrive before it).
    if (old) this.drainWorker(old, true);
    this.router.releaseHeld();
  }

  private drainWorker(proc: WorkerProcess, settle: boolean): void {
    if (proc.state === 'exited') return;
    proc.state = 'draining';
    this.logger.info({ worker: proc.slot, pid: proc.pid }, 'draining worker');
    void proc.send({ type: 'entropy:drain', settle }).catch(() => proc.worker.process.kill());
  }

  private countServing(): void {
    this.metrics.workers.set(this.slots.filter((s) => s.serving).length);
  }

  private onExit(proc: WorkerProcess, code: number | null, signal: string | null): void {
    const was = proc.state;
    proc.state = 'exited';
    const slot = this.slots[proc.slot]!;
    if (slot.serving === proc) slot.serving = undefined;
    if (slot.starting === proc) slot.starting = undefined;
    proc.markFailed(new Error(`worker exited (${signal ?? code})`));
    this.countServing();
    const last = proc.finalMetrics ?? proc.lastMetrics;
    if (last) void this.metrics.retire(last);
    const about = { worker: proc.slot, pid: proc.pid, code, signal };
    if (was === 'draining' && code === 0) {
      this.logger.info(about, 'worker drained and exited');
      return;
    }
    if (this.stopping || !this.listening) {
      this.logger.warn(about, 'worker exited');
      return;
    }
    if (was === 'starting' && slot.serving) {
      // A replacement (SIGHUP) that failed: the old worker keeps serving.
      this.logger.error(about, 'replacement worker exited before it was ready');
      return;
    }
    if (proc.readyAt > 0 && Date.now() - proc.readyAt >= STABLE_MS) slot.crashes = 0;
    slot.crashes++;
    const delayMs = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** (slot.crashes - 1));
    this.logger.error({ ...about, restartInMs: delayMs }, 'worker died; restarting it');
    this.metrics.workerRestarts.inc();
    if (slot.starting || slot.restartTimer) return;
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (!this.stopping && !slot.starting) this.fork(slot);
    }, delayMs);
  }

  /** SIGHUP: replaces the workers one at a time. Each new worker is started and waited for;
   *  then the slot's connections go to it and the old one drains. */
  async reload(): Promise<void> {
    if (this.reloading || this.stopping || !this.listening) {
      this.logger.warn('reload ignored: a reload or shutdown is in progress');
      return;
    }
    this.reloading = true;
    this.logger.info('replacing every worker');
    try {
      for (const slot of this.slots) {
        if (this.stopping) return;
        const old = slot.serving;
        if (slot.restartTimer) clearTimeout(slot.restartTimer);
        slot.restartTimer = undefined;
        const proc = slot.starting ?? this.fork(slot);
        try {
          await proc.ready;
        } catch {
          if (!this.stopping) {
            this.logger.error({ worker: slot.index }, 'replacement failed; the old worker stays');
          }
          continue;
        }
        if (old) await old.exited;
      }
      this.logger.info('every worker replaced');
    } finally {
      this.reloading = false;
    }
  }

  private readonly processes = new WeakMap<Worker, WorkerProcess>();
  private processOf(worker: Worker | undefined): WorkerProcess | undefined {
    return worker ? this.processes.get(worker) : undefined;
  }
  /** The workers a scrape asks for their metrics: those serving or draining. */
  private scrapedWorkers(): WorkerProcess[] {
    return Object.values(cluster.workers ?? {})
      .map((w) => this.processOf(w))
      .filter((p): p is WorkerProcess => p?.state === 'serving' || p?.state === 'draining');
  }

  /** Stops accepting, drains every worker, and resolves `done` with the exit status: `code`,
   *  or 1 if a worker did not exit cleanly. */
  stop(why: string, code = 0): Promise<number> {
    this.stopping ??= (async () => {
      this.logger.info({ why }, 'shutting down');
      for (const slot of this.slots) {
        if (slot.restartTimer) clearTimeout(slot.restartTimer);
        slot.restartTimer = undefined;
      }
      const routerClosed = this.router.close();
      const clean = await this.stopWorkers(true);
      await routerClosed;
      await this.metricsListener?.close();
      this.logger.info('stopped');
      return clean ? code : Math.max(code, 1);
    })();
    void this.stopping.then((status) => this.finish(status));
    return this.stopping;
  }

  /** Drains every worker; kills those that outlive the grace. True when all exited 0. */
  private async stopWorkers(graceful: boolean): Promise<boolean> {
    const all = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    // A worker still starting had nothing to drain: however it ends is clean.
    const exits = all.map((w) => {
      const starting = this.processOf(w)?.state === 'starting';
      return new Promise<boolean>((resolve) => {
        if (w.isDead()) return resolve(starting || w.process.exitCode === 0);
        w.once('exit', (code: number | null) => resolve(starting || code === 0));
      });
    });
    for (const w of all) {
      const proc = this.processOf(w);
      if (graceful && proc?.state === 'serving') this.drainWorker(proc, false);
      else w.process.kill('SIGTERM');
    }
    const deadline = setTimeout(() => {
      for (const w of all) if (!w.isDead()) w.process.kill('SIGKILL');
    }, STOP_GRACE_MS + this.config.handshakeTimeoutMs);
    const results = await Promise.all(exits);
    clearTimeout(deadline);
    return results.every(Boolean);
  }
}
