// The browser PoW solver: a pool of Web Workers (started once, kept), one job at a time on every
// worker, each on a disjoint nonce stride — the interface of the Node solver (PowSolver). Where no
// Worker can be started it searches on the page's thread in chunks, yielding between them.
import {
  POW_CHUNK,
  applyPowAnswer,
  type PowAnswer,
  type PowJob,
  type PowRun,
  type PowProgress,
  type PowSolveOptions,
  type PowSolver,
} from './core/pow.js';
import { searchNonceRangeWeb } from './web-pow-search.js';

/** The part of a Web Worker the pool uses. */
export interface PowWorker {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'error', listener: (event: unknown) => void): void;
  terminate(): void;
}

export type PowWorkerFactory = () => PowWorker;

type WorkerCtor = new (url: string | URL, options?: { type?: 'module' | 'classic' }) => PowWorker;

type Answer = PowAnswer;

interface Job {
  seed: string;
  context: string;
  difficulty: number;
  resolve(nonce: string): void;
  reject(err: unknown): void;
  signal?: AbortSignal;
  onProgress?: (progress: PowProgress) => void;
}

let workerSource: string | undefined;

/**
 * The worker's code as one classic script (the prebuilt bundle registers it, and its workers
 * start from a blob: URL). Without it, workers load web-pow-worker.js next to this module, as a
 * module worker — the form bundlers (Vite, webpack 5) recognise and bundle.
 */
export function setPowWorkerSource(source: string): void {
  workerSource = source;
}

function defaultWorkerFactory(): PowWorkerFactory | null {
  const WorkerImpl = (globalThis as { Worker?: WorkerCtor }).Worker;
  if (typeof WorkerImpl !== 'function') return null;
  if (workerSource !== undefined) {
    const url = URL.createObjectURL(new Blob([workerSource], { type: 'text/javascript' }));
    return () => new WorkerImpl(url);
  }
  return () => new WorkerImpl(new URL('./web-pow-worker.js', import.meta.url), { type: 'module' });
}

class WebSolverPool {
  private workers: PowWorker[] | null = null;
  private readonly queue: Job[] = [];
  private running: (PowRun & { job: Job }) | undefined;
  private nextId = 1;

  constructor(
    private readonly size: number,
    private factory: PowWorkerFactory | null,
  ) {}

  solve(job: Job): void {
    this.queue.push(job);
    job.signal?.addEventListener('abort', () => this.abort(job), { once: true });
    this.pump();
  }

  /** The workers, started on first use; null where none can be (then: the page's thread). */
  private ensureWorkers(): PowWorker[] | null {
    if (this.workers || !this.factory) return this.workers;
    try {
      const workers: PowWorker[] = [];
      for (let i = 0; i < this.size; i++) {
        const worker = this.factory();
        worker.addEventListener('message', (event) => this.onAnswer(event.data as Answer));
        worker.addEventListener('error', () => this.onWorkerError());
        workers.push(worker);
      }
      this.workers = workers;
    } catch {
      this.workers = null;
    }
    return this.workers;
  }

  private pump(): void {
    if (this.running || this.queue.length === 0) return;
    const job = this.queue.shift()!;
    const id = this.nextId++;
    this.running = { id, job, answers: 0, settled: false, attempts: 0, startedAt: Date.now() };
    const workers = this.ensureWorkers();
    if (!workers) return void this.searchInThread(id, job);
    workers.forEach((worker, start) => {
      const search: PowJob = {
        seed: job.seed,
        context: job.context,
        difficulty: job.difficulty,
        start,
        stride: workers.length,
      };
      worker.postMessage({ type: 'job', id, job: search });
    });
  }

  /** No workers: the same search in chunks on this thread, yielding to the page between them. */
  private async searchInThread(id: number, job: Job): Promise<void> {
    const search: PowJob = { ...job, start: 0, stride: 1 };
    for (let from = 0; from <= Number.MAX_SAFE_INTEGER; from += POW_CHUNK) {
      if (this.running?.id !== id || this.running.settled) return;
      const nonce = searchNonceRangeWeb(search, from, POW_CHUNK);
      if (nonce !== null) return this.finish({ id, nonce, tried: Number(nonce) - from + 1 }, 1);
      this.onAnswer({ id, tried: POW_CHUNK, progress: true });
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    this.finish({ id, nonce: null, tried: 0 }, 1);
  }

  private onAnswer(answer: Answer): void {
    this.finish(answer, this.workers?.length ?? 1);
  }

  private finish(answer: Answer, searchers: number): void {
    const run = this.running;
    if (!run || run.id !== answer.id) return;
    const cancel = () => {
      for (const worker of this.workers ?? []) worker.postMessage({ type: 'cancel', id: run.id });
    };
    if (!applyPowAnswer(run, answer, searchers, cancel)) return;
    this.running = undefined;
    this.pump();
  }

  private abort(job: Job): void {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) this.queue.splice(queued, 1);
    else if (this.running?.job === job && !this.running.settled) {
      this.running.settled = true;
      for (const worker of this.workers ?? [])
        worker.postMessage({ type: 'cancel', id: this.running.id });
      if (!this.workers) this.running = undefined;
    } else return;
    job.reject(job.signal?.reason);
    if (!this.running) this.pump();
  }

  /** A worker failed (e.g. its script could not load): drop the pool, search on this thread. */
  private onWorkerError(): void {
    for (const worker of this.workers ?? []) worker.terminate();
    this.workers = null;
    this.factory = null;
    const run = this.running;
    if (run && !run.settled) {
      this.running = undefined;
      this.queue.unshift(run.job);
    }
    this.pump();
  }
}

export interface WebPowSolverOptions {
  /** Workers in the pool (default: navigator.hardwareConcurrency, at most 4). */
  workers?: number;
  /** Starts one worker (default: web-pow-worker.js, or the bundle's inlined worker). */
  createWorker?: PowWorkerFactory | null;
}

/** A solver with its own pool of Web Workers. */
export function createWebPowSolver(options: WebPowSolverOptions = {}): PowSolver {
  const hardware = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  const size = Math.max(1, options.workers ?? Math.min(4, hardware ?? 2));
  let pool: WebSolverPool | undefined;
  return (seed, context, difficulty, opts: PowSolveOptions = {}) => {
    const { signal, onProgress } = opts;
    if (signal?.aborted) return Promise.reject(signal.reason);
    pool ??= new WebSolverPool(
      size,
      options.createWorker === undefined ? defaultWorkerFactory() : options.createWorker,
    );
    return new Promise((resolve, reject) =>
      pool!.solve({ seed, context, difficulty, resolve, reject, signal, onProgress }),
    );
  };
}

let shared: PowSolver | undefined;

/** Finds a nonce meeting `difficulty` for seed ‖ context ‖ nonce (docs/protocol.md §2.2) in Web Workers. */
export const solvePow: PowSolver = (seed, context, difficulty, opts) =>
  (shared ??= createWebPowSolver())(seed, context, difficulty, opts);
