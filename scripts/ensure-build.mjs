// Builds dist/ only when it is missing or older than a source file (`npm start` runs this first,
// so a fresh build starts the relay at once and a stale one is rebuilt). Run in the package's
// root, as npm runs lifecycle scripts; buildReason() is the decision alone (test/ensure-build.test.ts).
import { spawnSync } from 'node:child_process';
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

/** Written by `npm run build` when it succeeds: the time of the last complete build. */
export const STAMP = 'dist/.build-stamp';
/** What the build reads: a change to any of them (or a file added to src/) makes dist/ stale. */
export const SOURCES = ['src', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];

function newestMtime(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Why `root`'s dist/ must be built ('never built', 'sources changed'), or undefined if fresh. */
export function buildReason(root) {
  let built;
  try {
    built = statSync(join(root, STAMP)).mtimeMs;
  } catch {
    return 'never built';
  }
  const newest = Math.max(...SOURCES.map((source) => newestMtime(join(root, source))));
  return newest > built ? 'sources changed' : undefined;
}

function main() {
  const reason = buildReason(process.cwd());
  if (reason === undefined) return;
  process.stderr.write(`entropy-relay: building dist/ (${reason})\n`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['run', 'build'], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

// Run as a script (`prestart`), not when imported.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) main();
