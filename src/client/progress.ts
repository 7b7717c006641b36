// Progress on stderr for the CLI's long-running steps (PoW at high difficulty, bulk prekey
// generation), for a person who waits: on a terminal one line redrawn in place, otherwise (when
// forced with --progress) plain lines. Throttled; stdout is left to the JSON results.
import type { PowProgress } from './core/pow.js';

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export class Progress {
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly stream: ProgressStream,
    readonly enabled: boolean,
    private readonly intervalMs = 1000,
  ) {}

  /** `--progress` / `--no-progress` when given, else on only when stderr is a terminal. */
  static forStderr(flag: boolean | undefined, stream: ProgressStream = process.stderr): Progress {
    return new Progress(stream, flag ?? stream.isTTY === true);
  }

  /** A step starts or ends: always shown (when enabled). */
  stage(text: string): void {
    if (!this.enabled) return;
    this.clear();
    this.stream.write(`${text}\n`);
  }

  /** Proof-of-work progress; the last report (done) is always shown. */
  pow = (p: PowProgress): void => {
    const seconds = p.elapsedMs / 1000;
    const rate = seconds > 0 ? p.attempts / seconds : 0;
    const line =
      `pow: difficulty ${p.difficulty}, ${formatCount(p.attempts)} attempts, ` +
      `${formatCount(rate)}/s, ${seconds.toFixed(1)} s${p.done ? ', solved' : ''}`;
    this.update(line, p.done === true);
  };

  /** Prekeys made so far while building a bundle. */
  preKeys = (made: number, total: number): void => {
    this.update(`prekeys: ${made}/${total} generated`, made === total);
  };

  private update(line: string, final: boolean): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!final && now - this.lastDraw < this.intervalMs) return;
    this.lastDraw = now;
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[K${line}${final ? '\n' : ''}`);
      this.drawn = !final;
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  /** Ends a line left open on a terminal. */
  private clear(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}
