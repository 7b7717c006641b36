// `npm start` rebuilds dist/ only when it must (scripts/ensure-build.mjs, its `prestart`): the
// decision on a throwaway package tree with chosen file times, and the script itself run there
// with a `build` script that only writes the stamp (no TypeScript build).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { buildReason, SOURCES, STAMP } from '../scripts/ensure-build.mjs';

const SCRIPT = new URL('../scripts/ensure-build.mjs', import.meta.url).pathname;
/** File times in the fixture: sources at BEFORE, the stamp at BUILT, a later edit at AFTER. */
const BEFORE = new Date('2026-01-01T00:00:00Z');
const BUILT = new Date('2026-01-01T01:00:00Z');
const AFTER = new Date('2026-01-01T02:00:00Z');

describe('ensure-build: is dist/ rebuilt before npm start?', () => {
  let root: string;
  const path = (name: string) => join(root, name);
  const write = (name: string, text: string, time: Date) => {
    writeFileSync(path(name), text);
    utimesSync(path(name), time, time);
  };
  const touch = (name: string, time: Date) => utimesSync(path(name), time, time);

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'entropy-ensure-build-'));
    mkdirSync(path('src/nested'), { recursive: true });
    mkdirSync(path('dist'));
    // The `build` the script runs when it decides to: writes the stamp, nothing else.
    const build = `node -e "require('node:fs').writeFileSync('${STAMP}', '')"`;
    write('package.json', JSON.stringify({ name: 'fixture', scripts: { build } }), BEFORE);
    write('tsconfig.json', '{}', BEFORE);
    write('tsconfig.build.json', '{}', BEFORE);
    write('src/cli.ts', 'export {};\n', BEFORE);
    write('src/nested/deep.ts', 'export {};\n', BEFORE);
    for (const dir of ['src/nested', 'src']) touch(dir, BEFORE);
    write(STAMP, '', BUILT);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('a stamp newer than every source: no rebuild', () => {
    assert.deepEqual(SOURCES, ['src', 'package.json', 'tsconfig.json', 'tsconfig.build.json']);
    assert.equal(buildReason(root), undefined);
  });

  it('a source edited after the build, however deep, or a build setting: rebuild', () => {
    touch('src/nested/deep.ts', AFTER);
    assert.equal(buildReason(root), 'sources changed');
    touch('src/nested/deep.ts', BEFORE);
    assert.equal(buildReason(root), undefined);
    for (const file of ['package.json', 'tsconfig.json', 'tsconfig.build.json']) {
      touch(file, AFTER);
      assert.equal(buildReason(root), 'sources changed', file);
      touch(file, BEFORE);
    }
  });

  it('a source file added (its directory changed) after the build: rebuild', () => {
    write('src/nested/new.ts', 'export {};\n', BEFORE);
    touch('src/nested', AFTER);
    assert.equal(buildReason(root), 'sources changed');
  });

  it('no stamp (dist/ missing, or a build that did not finish): rebuild', () => {
    rmSync(path(STAMP));
    assert.equal(buildReason(root), 'never built');
    rmSync(path('dist'), { recursive: true });
    assert.equal(buildReason(root), 'never built');
  });

  it('the script, as prestart: builds a stale tree once, then leaves it alone', () => {
    const prestart = () =>
      spawnSync(process.execPath, [SCRIPT], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    touch('src/cli.ts', AFTER);
    const stale = prestart();
    assert.equal(stale.status, 0, stale.stderr);
    assert.match(stale.stderr, /building dist\/ \(sources changed\)/);
    assert.ok(statSync(path(STAMP)).mtimeMs > AFTER.getTime(), 'the build wrote a new stamp');

    const fresh = prestart();
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.equal(fresh.stderr, '');
  });
});
