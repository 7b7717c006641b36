// The nonce search shared by the solver's worker threads and its synchronous form.
import { digestMeetsDifficulty, powDigest } from '../pow/hash-rule.js';

export interface PowJob {
  seed: string;
  context: string;
  difficulty: number;
  /** First nonce tried; then start + stride, start + 2·stride, … */
  start: number;
  stride: number;
}

/** Tries `count` nonces of the job's stride from `from`; the first that meets the difficulty. */
export function searchNonceRange(job: PowJob, from: number, count: number): string | null {
  for (let i = 0, n = from; i < count && n <= Number.MAX_SAFE_INTEGER; i++, n += job.stride) {
    const nonce = String(n);
    if (digestMeetsDifficulty(powDigest(job.seed, job.context, nonce), job.difficulty))
      return nonce;
  }
  return null;
}
