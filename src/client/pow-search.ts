// The nonce search of the Node solver's worker threads and its synchronous form, hashing with
// the relay's own rule (src/pow/hash-rule.ts, node:crypto).
import { digestMeetsDifficulty, powDigest } from '../pow/hash-rule.js';
import type { PowJob } from './core/pow.js';

export type { PowJob } from './core/pow.js';

/** Tries `count` nonces of the job's stride from `from`; the first that meets the difficulty. */
export function searchNonceRange(job: PowJob, from: number, count: number): string | null {
  for (let i = 0, n = from; i < count && n <= Number.MAX_SAFE_INTEGER; i++, n += job.stride) {
    const nonce = String(n);
    if (digestMeetsDifficulty(powDigest(job.seed, job.context, nonce), job.difficulty))
      return nonce;
  }
  return null;
}
