// The proof-of-work rule of docs/protocol.md §2.2 as the client searches it, on any platform:
//   digest = SHA-256(utf8(seed ‖ context ‖ decimal nonce)), valid iff its hex starts with
//   `difficulty` '0' characters.
// The searches are the platform's (pow-search.ts: node:crypto, the relay's own rule;
// web-pow-search.ts: @noble/hashes); test/client-sdk.test.ts checks that both agree.

/** A search job: nonces start, start + stride, start + 2·stride, … */
export interface PowJob {
  seed: string;
  context: string;
  difficulty: number;
  /** First nonce tried; then start + stride, start + 2·stride, … */
  start: number;
  stride: number;
}

/** What a solver reports while it searches (for progress displays). */
export interface PowProgress {
  difficulty: number;
  /** Nonces tried so far, by every worker. */
  attempts: number;
  elapsedMs: number;
  /** Set on the last report, when a nonce was found. */
  done?: boolean;
}

export interface PowSolveOptions {
  /** Workers to search with (default: up to 2, the machine's parallelism permitting). */
  workers?: number;
  signal?: AbortSignal;
  /** Called as the search goes on (about every 20,000 nonces per worker) and once when solved. */
  onProgress?: (progress: PowProgress) => void;
}

/** The interface every solver implements: worker threads in Node, Web Workers in browsers. */
export type PowSolver = (
  seed: string,
  context: string,
  difficulty: number,
  opts?: PowSolveOptions,
) => Promise<string>;

/** The work a digest shows: how many zero nibbles (hex '0' characters) it starts with. */
export function leadingZeroNibbles(digest: Uint8Array): number {
  let zeros = 0;
  for (const byte of digest) {
    if (byte !== 0) return byte < 0x10 ? zeros + 1 : zeros;
    zeros += 2;
  }
  return zeros;
}

/** Nonces a worker tries between two looks at its messages (cancel) and two progress reports. */
export const POW_CHUNK = 20_000;

export const noSolution = (): Error => new Error('No proof-of-work solution in the nonce range');

/** A job being searched by a pool's searchers (worker threads, Web Workers or the page). */
export interface PowRun {
  id: number;
  job: {
    difficulty: number;
    resolve(nonce: string): void;
    reject(err: unknown): void;
    onProgress?: (progress: PowProgress) => void;
  };
  /** Searchers that have finished (found a nonce or ran out). */
  answers: number;
  /** Resolved, rejected or aborted: later answers only count. */
  settled: boolean;
  attempts: number;
  startedAt: number;
}

/** One searcher's answer: `tried` more nonces, and a progress report or its last word. */
export interface PowAnswer {
  id: number;
  nonce?: string | null;
  tried: number;
  progress?: boolean;
}

/**
 * Applies a searcher's answer to `run`: reports progress, resolves with the first nonce found
 * (then `cancel` stops the other searchers), and once all `searchers` have answered rejects if
 * none found one. True when the run is over (every searcher has answered).
 */
export function applyPowAnswer(
  run: PowRun,
  { nonce, tried, progress }: PowAnswer,
  searchers: number,
  cancel: () => void,
): boolean {
  run.attempts += tried;
  const report = (done?: boolean): void =>
    run.job.onProgress?.({
      difficulty: run.job.difficulty,
      attempts: run.attempts,
      elapsedMs: Date.now() - run.startedAt,
      ...(done ? { done } : {}),
    });
  if (progress) {
    if (!run.settled) report();
    return false;
  }
  run.answers += 1;
  if (typeof nonce === 'string' && !run.settled) {
    run.settled = true;
    report(true);
    run.job.resolve(nonce);
    cancel();
  }
  if (run.answers < searchers) return false;
  if (!run.settled) run.job.reject(noSolution());
  return true;
}
