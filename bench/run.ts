// `npm run bench`: builds the relay, then runs the realistic benchmark (bench/realistic.ts: open
// loop at stepped rates, closed loop, idle sessions, pacing; relay against the bare `ws` baseline),
// then, for the full suite only, the hostile-neighbour benchmark (bench/hostile.ts). Flags after
// `--` go to bench/realistic.ts: `npm run bench -- --quick` is the 1–2 minute smoke run, and any
// selection flag (`--scenarios`, `--formats`, …, see `npm run bench -- --help`) runs only what it
// selects (without the hostile benchmark). bench/shaper-micro.ts, the scheduler micro-benchmark,
// runs on its own: npx tsx bench/shaper-micro.ts.
import { spawnSync } from 'node:child_process';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const args = process.argv.slice(2);
const full = args.length === 0;
const help = args.includes('--help');

let status = 0;
if (!help) status = spawnSync(npm, ['run', 'build'], { stdio: 'inherit' }).status ?? 1;
if (status === 0) {
  const realistic = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'bench/realistic.ts', ...args],
    { stdio: 'inherit' },
  );
  status = realistic.status ?? 1;
  if (full) status ||= spawnSync(npm, ['run', 'bench:hostile'], { stdio: 'inherit' }).status ?? 1;
}
process.exitCode = status;
