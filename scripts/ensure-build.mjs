// Builds dist/ only when it is missing or older than a source file (`npm start` runs this first,
// so a fresh build starts the relay at once and a stale one is rebuilt).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';

const STAMP = 'dist/.build-stamp';
const SOURCES = ['src', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];

function newestMtime(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

let built = 0;
try {
  built = statSync(STAMP).mtimeMs;
} catch {
  // never built
}
if (Math.max(...SOURCES.map(newestMtime)) > built) {
  process.stderr.write('entropy-relay: building dist/ (sources changed)\n');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['run', 'build'], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
