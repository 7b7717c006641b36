// `npm run bench`: every benchmark of the project, one after the other. Today that is the relay
// benchmark (`npm run bench:relay`: build, then bench/relay.ts). bench/shaper-micro.ts, the
// scheduler micro-benchmark, runs on its own: npx tsx bench/shaper-micro.ts.
import { spawnSync } from 'node:child_process';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const result = spawnSync(npm, ['run', 'bench:relay'], { stdio: 'inherit' });
process.exitCode = result.status ?? 1;
