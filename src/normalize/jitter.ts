// Delivery jitter (docs/protocol.md §5): a uniform integer number of milliseconds from a CSPRNG.
import { randomFillSync } from 'node:crypto';

// 32-bit words are drawn in blocks, so a delay costs one array read, not a fresh random buffer.
const POOL_WORDS = 2048;
const pool = new Uint32Array(POOL_WORDS);
let poolIndex = POOL_WORDS;

function randomUint32(): number {
  if (poolIndex === POOL_WORDS) {
    randomFillSync(pool);
    poolIndex = 0;
  }
  return pool[poolIndex++]!;
}

const TWO_POW_32 = 2 ** 32;

/** Uniform integer in [min, max] (inclusive), unbiased (rejection sampling). */
export function drawJitterMs(min: number, max: number): number {
  const range = max - min + 1;
  if (range <= 1) return min;
  // Largest multiple of `range` that fits in 32 bits; words above it would favour small values.
  const limit = TWO_POW_32 - (TWO_POW_32 % range);
  for (;;) {
    const word = randomUint32();
    if (word < limit) return min + (word % range);
  }
}
