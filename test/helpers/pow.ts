// Solutions of an exact strength, for tests of what a given amount of work is accepted for.
import { leadingZeroNibbles, powDigest } from '../../src/pow/hash-rule.js';

/** A nonce whose digest meets `difficulty` and not one more (solvePow may find a stronger one). */
export function solveExactly(seed: string, context: string, difficulty: number): string {
  for (let n = 0; ; n++) {
    if (leadingZeroNibbles(powDigest(seed, context, String(n))) === difficulty) return String(n);
  }
}
