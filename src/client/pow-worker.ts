// Worker thread of the PoW solver pool: searches its nonce stride in chunks, checking between
// chunks whether the job was cancelled (another worker found a solution, or the caller aborted).
import { parentPort } from 'node:worker_threads';
import { searchNonceRange, type PowJob } from './pow-search.js';

const CHUNK = 20_000;
let cancelled: number | undefined;

type Request = { type: 'job'; id: number; job: PowJob } | { type: 'cancel'; id: number };

parentPort!.on('message', (request: Request) => {
  if (request.type === 'cancel') cancelled = request.id;
  else void run(request.id, request.job);
});

async function run(id: number, job: PowJob): Promise<void> {
  for (let from = job.start; from <= Number.MAX_SAFE_INTEGER; from += CHUNK * job.stride) {
    const nonce = searchNonceRange(job, from, CHUNK);
    if (nonce !== null) return parentPort!.postMessage({ id, nonce });
    // Let a 'cancel' message in.
    await new Promise((resolve) => setImmediate(resolve));
    if (cancelled === id) break;
  }
  parentPort!.postMessage({ id, nonce: null });
}
