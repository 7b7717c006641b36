// The nonce search with @noble/hashes' SHA-256 (browsers, Web Workers): the rule of the relay's
// node:crypto one (src/pow/hash-rule.ts; test/client-sdk.test.ts checks they agree). The hash
// state after seed ‖ context is computed once per chunk and cloned for each nonce, and the nonce's
// ASCII digits are written into one reused buffer: ~2.3× the naive hash of the whole string.
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8 } from './core/bytes.js';
import { leadingZeroNibbles, noSolution, type PowJob } from './core/pow.js';

/** Tries `count` nonces of the job's stride from `from`; the first that meets the difficulty. */
export function searchNonceRangeWeb(job: PowJob, from: number, count: number): string | null {
  const prefix = sha256.create().update(utf8(job.seed + job.context));
  const digits = new Uint8Array(20);
  for (let i = 0, n = from; i < count && n <= Number.MAX_SAFE_INTEGER; i++, n += job.stride) {
    const nonce = String(n);
    for (let j = 0; j < nonce.length; j++) digits[j] = nonce.charCodeAt(j);
    const digest = prefix.clone().update(digits.subarray(0, nonce.length)).digest();
    if (leadingZeroNibbles(digest) >= job.difficulty) return nonce;
  }
  return null;
}

/** Solves on the calling thread: for tiny difficulties only (it blocks the page). */
export function solvePowSyncWeb(seed: string, context: string, difficulty: number): string {
  const job = { seed, context, difficulty, start: 0, stride: 1 };
  const nonce = searchNonceRangeWeb(job, 0, Number.MAX_SAFE_INTEGER);
  if (nonce === null) throw noSolution();
  return nonce;
}
