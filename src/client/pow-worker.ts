// Worker thread of the PoW solver pool: searches its nonce stride in chunks, reporting the
// nonces tried after each chunk and checking whether the job was cancelled (another worker found
// a solution, or the caller aborted).
import { parentPort } from 'node:worker_threads';
import { POW_CHUNK } from './core/pow.js';
import { searchNonceRange, type PowJob } from './pow-search.js';

let cancelled: number | undefined;

type Request = { type: 'job'; id: number; job: PowJob } | { type: 'cancel'; id: number };

parentPort!.on('message', (request: Request) => {
  if (request.type === 'cancel') cancelled = request.id;
  else void run(request.id, request.job);
});

async function run(id: number, job: PowJob): Promise<void> {
  for (let from = job.start; from <= Number.MAX_SAFE_INTEGER; from += POW_CHUNK * job.stride) {
    const nonce = searchNonceRange(job, from, POW_CHUNK);
    if (nonce !== null) {
      const tried = (Number(nonce) - from) / job.stride + 1;
      return parentPort!.postMessage({ id, nonce, tried });
    }
    parentPort!.postMessage({ id, tried: POW_CHUNK, progress: true });
    // Let a 'cancel' message in.
    await new Promise((resolve) => setImmediate(resolve));
    if (cancelled === id) break;
  }
  parentPort!.postMessage({ id, nonce: null, tried: 0 });
}
