// `npm run bench`: every benchmark of the project, one after the other: the relay benchmark
// (`npm run bench:relay`: build, then bench/relay.ts), then the hostile-neighbour benchmark
// (`npm run bench:hostile`: bench/hostile.ts). bench/shaper-micro.ts, the scheduler
// micro-benchmark, runs on its own: npx tsx bench/shaper-micro.ts.
import { spawnSync } from 'node:child_process';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let status = 0;
for (const script of ['bench:relay', 'bench:hostile']) {
  const result = spawnSync(npm, ['run', script], { stdio: 'inherit' });
  status ||= result.status ?? 1;
}
process.exitCode = status;
