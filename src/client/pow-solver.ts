// Client-side proof-of-work solver. Searching runs in a pool of worker threads, started once and
// kept (unref'd while idle), so a client's event loop keeps serving its sockets while it solves
// and repeated solves do not pay for starting threads. One job at a time uses every worker, each
// on a disjoint nonce stride.
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  applyPowAnswer,
  noSolution,
  type PowAnswer,
  type PowProgress,
  type PowRun,
  type PowSolveOptions,
} from './core/pow.js';
import { searchNonceRange, type PowJob } from './pow-search.js';

export type { PowJob } from './pow-search.js';
export type { PowProgress, PowSolveOptions, PowSolver } from './core/pow.js';

// pow-worker.js once compiled, pow-worker.ts when running the sources under tsx.
const WORKER_EXT = extname(fileURLToPath(import.meta.url));
const WORKER_URL = new URL('./pow-worker' + WORKER_EXT, import.meta.url);

function startWorker(): Worker {
  if (WORKER_EXT !== '.ts') return new Worker(WORKER_URL);
  // On Node 20 tsx's `--import` hook (inherited via execArgv) does not register in worker
  // threads, so the worker registers tsx itself before loading the .ts worker.
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const bootstrap = `import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(bootstrap, { eval: true });
}

interface Pending {
  seed: string;
  context: string;
  difficulty: number;
  resolve(nonce: string): void;
  reject(err: unknown): void;
  signal?: AbortSignal;
  onProgress?: (progress: PowProgress) => void;
}

type Answer = PowAnswer;

class SolverPool {
  private readonly workers: Worker[] = [];
  private readonly queue: Pending[] = [];
  private running: (PowRun & { job: Pending }) | undefined;
  private nextId = 1;

  constructor(private readonly size: number) {}

  /** Workers started so far (tests check that the pool is reused). */
  get started(): number {
    return this.workers.length;
  }

  solve(job: Pending): void {
    this.queue.push(job);
    job.signal?.addEventListener('abort', () => this.abort(job), { once: true });
    this.pump();
  }

  private ensureWorkers(): void {
    while (this.workers.length < this.size) {
      const worker = startWorker();
      worker.on('message', (answer: Answer) => this.onAnswer(answer));
      worker.on('error', (err) => this.onWorkerError(worker, err));
      this.workers.push(worker);
    }
  }

  private pump(): void {
    if (this.running || this.queue.length === 0) return;
    const job = this.queue.shift()!;
    this.ensureWorkers();
    const id = this.nextId++;
    this.running = { id, job, answers: 0, settled: false, attempts: 0, startedAt: Date.now() };
    this.workers.forEach((worker, start) => {
      worker.ref();
      const search: PowJob = {
        seed: job.seed,
        context: job.context,
        difficulty: job.difficulty,
        start,
        stride: this.size,
      };
      worker.postMessage({ type: 'job', id, job: search });
    });
  }

  private onAnswer(answer: Answer): void {
    const run = this.running;
    if (!run || run.id !== answer.id) return;
    const cancel = () => {
      for (const worker of this.workers) worker.postMessage({ type: 'cancel', id: run.id });
    };
    if (!applyPowAnswer(run, answer, this.workers.length, cancel)) return;
    // Every worker has stopped searching this job: next one.
    this.running = undefined;
    for (const worker of this.workers) worker.unref();
    this.pump();
  }

  private abort(job: Pending): void {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) this.queue.splice(queued, 1);
    else if (this.running?.job === job && !this.running.settled) {
      this.running.settled = true;
      for (const worker of this.workers)
        worker.postMessage({ type: 'cancel', id: this.running.id });
    } else return;
    job.reject(job.signal?.reason);
  }

  private onWorkerError(worker: Worker, err: unknown): void {
    this.workers.splice(this.workers.indexOf(worker), 1);
    void worker.terminate();
    const run = this.running;
    if (run && !run.settled) run.job.reject(err);
    this.running = undefined;
    this.pump();
  }
}

const pools = new Map<number, SolverPool>();

function poolOf(size: number): SolverPool {
  let pool = pools.get(size);
  if (!pool) pools.set(size, (pool = new SolverPool(size)));
  return pool;
}

/** Workers the shared pool of this size has started (for tests). */
export function solverThreads(workers = defaultWorkers()): number {
  return pools.get(workers)?.started ?? 0;
}

function defaultWorkers(): number {
  return Math.min(2, availableParallelism());
}

/** Solves on the calling thread: for tests and tiny difficulties only. */
export function solvePowSync(seed: string, context: string, difficulty: number): string {
  const nonce = searchNonceRange(
    { seed, context, difficulty, start: 0, stride: 1 },
    0,
    Number.MAX_SAFE_INTEGER,
  );
  if (nonce === null) throw noSolution();
  return nonce;
}

/** Finds a nonce meeting `difficulty` for seed ‖ context ‖ nonce (docs/protocol.md §2.2), off the event loop. */
export function solvePow(
  seed: string,
  context: string,
  difficulty: number,
  opts: PowSolveOptions = {},
): Promise<string> {
  const { signal, onProgress } = opts;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) =>
    poolOf(Math.max(1, opts.workers ?? defaultWorkers())).solve({
      seed,
      context,
      difficulty,
      resolve,
      reject,
      signal,
      onProgress,
    }),
  );
}
