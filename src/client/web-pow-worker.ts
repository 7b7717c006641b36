// A Web Worker of the browser PoW solver (web-pow.ts): the same messages as the Node worker
// threads (pow-worker.ts). Searches its nonce stride in chunks, reporting the nonces tried after
// each chunk and looking for a 'cancel' between chunks.
import { POW_CHUNK, type PowJob } from './core/pow.js';
import { searchNonceRangeWeb } from './web-pow-search.js';

interface WorkerScope {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: { data: Request }) => void): void;
}

type Request = { type: 'job'; id: number; job: PowJob } | { type: 'cancel'; id: number };

const scope = globalThis as unknown as WorkerScope;
let cancelled: number | undefined;

scope.addEventListener('message', ({ data: request }) => {
  if (request.type === 'cancel') cancelled = request.id;
  else void run(request.id, request.job);
});

async function run(id: number, job: PowJob): Promise<void> {
  for (let from = job.start; from <= Number.MAX_SAFE_INTEGER; from += POW_CHUNK * job.stride) {
    const nonce = searchNonceRangeWeb(job, from, POW_CHUNK);
    if (nonce !== null) {
      const tried = (Number(nonce) - from) / job.stride + 1;
      return scope.postMessage({ id, nonce, tried });
    }
    scope.postMessage({ id, tried: POW_CHUNK, progress: true });
    // Let a 'cancel' message in.
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (cancelled === id) break;
  }
  scope.postMessage({ id, nonce: null, tried: 0 });
}
