// The `doctor` command's action: loads the configuration as `serve` does, runs every check and
// prints one line per check (text, or one JSON object per line with --json). Exit status: 0 when
// nothing failed (warnings allowed), 1 on any FAIL, 2 when the configuration does not even load.
import { ConfigError, loadConfig, type Config } from '../config.js';
import { fail, formatJson, formatText, type CheckResult } from './check.js';
import { runDoctor } from './index.js';

export async function doctor(
  opts: Record<string, unknown>,
  flags: Partial<Record<keyof Config, string | boolean>>,
): Promise<void> {
  const json = opts.json === true;
  const print = (result: CheckResult): void => {
    process.stdout.write(`${json ? formatJson(result) : formatText(result)}\n`);
  };
  const expected = String(opts.expectedSessions ?? '');
  if (!/^\d+$/.test(expected)) {
    print(fail('doctor', `--expected-sessions: expected a whole number, got "${expected}"`));
    process.exitCode = 2;
    return;
  }
  let config: Config;
  try {
    config = loadConfig(process.env, flags);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    print(fail('config', err.message));
    process.exitCode = 2;
    return;
  }
  const results = await runDoctor(config, { expectedSessions: Number(expected), report: print });
  const count = (verdict: CheckResult['verdict']) =>
    results.filter((r) => r.verdict === verdict).length;
  if (!json) {
    process.stdout.write(
      `${results.length} checks: ${count('ok')} ok, ${count('warn')} warn, ${count('fail')} FAIL\n`,
    );
  }
  process.exitCode = count('fail') > 0 ? 1 : 0;
}
