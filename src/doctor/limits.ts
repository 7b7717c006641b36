// Open files: every WebSocket session holds a socket, so the process's open-file limit must
// exceed the sessions expected. Node raises its soft limit to the hard limit when it starts, so
// the limit this process reads is the one `entropy-relay serve` gets in the same environment.
// Node has no getrlimit: on Linux the limits are read from /proc/self/limits.
import { readFile } from 'node:fs/promises';
import { errorText, fail, ok, warn, type CheckResult } from './check.js';

export const DEFAULT_EXPECTED_SESSIONS = 10_000;
/** Descriptors beyond the sessions: listeners, Redis connections, HTTP requests, log files. */
export const DESCRIPTOR_HEADROOM = 1024;
const LIMITS_FILE = '/proc/self/limits';

export interface OpenFileLimit {
  soft: number;
  hard: number;
}

/** The "Max open files" line of /proc/<pid>/limits ("unlimited" is Infinity). */
export function parseOpenFileLimit(text: string): OpenFileLimit | undefined {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
  if (!m) return undefined;
  const value = (v: string) => (v === 'unlimited' ? Infinity : Number(v));
  return { soft: value(m[1]!), hard: value(m[2]!) };
}

export async function openFileLimit(): Promise<OpenFileLimit | undefined> {
  return parseOpenFileLimit(await readFile(LIMITS_FILE, 'utf8'));
}

export async function limitChecks(expectedSessions: number): Promise<CheckResult[]> {
  let limit: OpenFileLimit | undefined;
  try {
    limit = await openFileLimit();
  } catch (err) {
    return [
      warn(
        'limits.open-files',
        `could not read ${LIMITS_FILE} (${errorText(err)}): check ulimit -n yourself`,
      ),
    ];
  }
  if (limit === undefined)
    return [
      warn('limits.open-files', `no "Max open files" in ${LIMITS_FILE}: check ulimit -n yourself`),
    ];
  return [openFilesVerdict(limit, expectedSessions)];
}

export function openFilesVerdict(limit: OpenFileLimit, expectedSessions: number): CheckResult {
  const needed = expectedSessions + DESCRIPTOR_HEADROOM;
  const detail = `open-file limit ${limit.soft} (hard ${limit.hard}) for ${expectedSessions} expected sessions`;
  const raise = `raise it to at least ${needed} (systemd: LimitNOFILE=; shell: ulimit -n)`;
  if (limit.soft < expectedSessions)
    return fail(
      'limits.open-files',
      `${detail}: sessions past ${limit.soft} would be refused; ${raise}`,
    );
  if (limit.soft < needed)
    return warn(
      'limits.open-files',
      `${detail}: less than ${DESCRIPTOR_HEADROOM} to spare; ${raise}`,
    );
  return ok('limits.open-files', detail);
}
