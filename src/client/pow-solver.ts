// Client-side proof-of-work solver. Searching runs in worker threads (each on a disjoint nonce
// stride) so a client's event loop keeps serving its sockets while it solves.
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { digestMeetsDifficulty, powDigest } from '../pow/hash-rule.js';

export interface PowJob {
  seed: string;
  context: string;
  difficulty: number;
  start: number;
  stride: number;
}

// pow-worker.js once compiled, pow-worker.ts when running the sources under tsx.
const WORKER_EXT = extname(fileURLToPath(import.meta.url));
const WORKER_URL = new URL('./pow-worker' + WORKER_EXT, import.meta.url);

function startWorker(job: PowJob): Worker {
  if (WORKER_EXT !== '.ts') return new Worker(WORKER_URL, { workerData: job });
  // On Node 20 tsx's `--import` hook (inherited via execArgv) does not register in worker
  // threads, so the worker registers tsx itself before loading the .ts worker.
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const bootstrap = `import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: job });
}

/** Tries nonces start, start + stride, …; the first that meets the difficulty, or null. */
export function searchNonce(job: PowJob): string | null {
  for (let n = job.start; n <= Number.MAX_SAFE_INTEGER; n += job.stride) {
    const nonce = String(n);
    if (digestMeetsDifficulty(powDigest(job.seed, job.context, nonce), job.difficulty))
      return nonce;
  }
  return null;
}

/** Solves on the calling thread: for tests and tiny difficulties only. */
export function solvePowSync(seed: string, context: string, difficulty: number): string {
  const nonce = searchNonce({ seed, context, difficulty, start: 0, stride: 1 });
  if (nonce === null) throw new Error('No proof-of-work solution in the nonce range');
  return nonce;
}

export function solvePow(
  seed: string,
  context: string,
  difficulty: number,
  opts: { workers?: number; signal?: AbortSignal } = {},
): Promise<string> {
  const { signal } = opts;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const count = Math.max(1, opts.workers ?? Math.min(2, availableParallelism()));

  return new Promise((resolve, reject) => {
    const workers: Worker[] = [];
    let settled = false;
    const settle = (finish: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      for (const worker of workers) void worker.terminate();
      finish();
    };
    const onAbort = (): void => settle(() => reject(signal?.reason));
    signal?.addEventListener('abort', onAbort, { once: true });

    try {
      for (let start = 0; start < count; start++) {
        const worker = startWorker({ seed, context, difficulty, start, stride: count });
        workers.push(worker);
        worker.on('message', (nonce: string | null) =>
          settle(() =>
            nonce === null ? reject(new Error('No proof-of-work solution found')) : resolve(nonce),
          ),
        );
        worker.on('error', (err) => settle(() => reject(err)));
      }
    } catch (err) {
      settle(() => reject(err)); // stops the workers already started
    }
  });
}
