// The nonce search with @noble/hashes' SHA-256 (browsers, Web Workers): the same rule as the
// relay's node:crypto one (core/pow.ts; test/client-sdk.test.ts checks they agree).
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8 } from './core/bytes.js';
import { noSolution, searchNonces, type PowJob } from './core/pow.js';

const sha256Text = (text: string): Uint8Array => sha256(utf8(text));

/** Tries `count` nonces of the job's stride from `from`; the first that meets the difficulty. */
export function searchNonceRangeWeb(job: PowJob, from: number, count: number): string | null {
  return searchNonces(sha256Text, job, from, count);
}

/** Solves on the calling thread: for tiny difficulties only (it blocks the page). */
export function solvePowSyncWeb(seed: string, context: string, difficulty: number): string {
  const job = { seed, context, difficulty, start: 0, stride: 1 };
  const nonce = searchNonceRangeWeb(job, 0, Number.MAX_SAFE_INTEGER);
  if (nonce === null) throw noSolution();
  return nonce;
}
