// What a doctor check reports: one verdict and one line of detail per check, printed as text or
// as one JSON object per line.

export type Verdict = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  /** Family and name, e.g. "tls.expiry", "redis.persistence". */
  check: string;
  verdict: Verdict;
  detail: string;
}

export const ok = (check: string, detail: string): CheckResult => ({
  check,
  verdict: 'ok',
  detail,
});
export const warn = (check: string, detail: string): CheckResult => ({
  check,
  verdict: 'warn',
  detail,
});
export const fail = (check: string, detail: string): CheckResult => ({
  check,
  verdict: 'fail',
  detail,
});

const LABEL: Record<Verdict, string> = { ok: 'ok', warn: 'warn', fail: 'FAIL' };

/** "ok   tls.expiry           certificate valid for 89 more days" */
export function formatText(result: CheckResult): string {
  return `${LABEL[result.verdict].padEnd(4)} ${result.check.padEnd(20)} ${result.detail}`;
}

export function formatJson(result: CheckResult): string {
  return JSON.stringify(result);
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
