// The published package: `npm pack` of the build holds the client SDK (Node and browser
// entries, the prebuilt browser bundle), the CLI and the type declarations, and no tests or
// sources; `entropy-relay/client` resolves to the Node entry in Node and to the browser entry
// under the "browser" condition, and both type-check in a consumer project (the browser one
// without @types/node, with the DOM library only).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

interface PackedFile {
  path: string;
}

describe('npm pack', { timeout: 240_000 }, () => {
  let dir: string;
  let files: string[];
  let manifest: {
    bin: Record<string, string>;
    exports: Record<string, unknown>;
    main: string;
    types: string;
    private?: boolean;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'entropy-pack-'));
    // dist/ as `npm ci` (prepare) built it; rebuilt first when a source is newer.
    await run(process.execPath, [join(ROOT, 'scripts/ensure-build.mjs')], { cwd: ROOT });
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
    });
    files = (JSON.parse(stdout) as { files: PackedFile[] }[])[0]!.files.map((f) => f.path);
    manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
  });

  after(() => rm(dir, { recursive: true, force: true }));

  it('holds the SDK, the CLI and the types', () => {
    for (const file of [
      'package.json',
      'README.md',
      'dist/cli.js',
      'dist/client/index.js',
      'dist/client/index.d.ts',
      'dist/client/browser.js',
      'dist/client/browser.d.ts',
      'dist/client/web-pow-worker.js',
      'dist/client/pow-worker.js',
      'dist/client/core/session.d.ts',
      'dist/browser/entropy-relay-client.js',
    ])
      assert.ok(files.includes(file), `${file} is in the package`);
    assert.equal(manifest.bin['entropy-relay'], 'dist/cli.js');
    assert.ok(files.includes(manifest.main) && files.includes(manifest.types));
  });

  it('is publishable, and publishes dist/ and the package files only', () => {
    // `"private": true` would make `npm publish` refuse the package.
    assert.notEqual(manifest.private, true);
    const outside = files.filter((f) => !f.startsWith('dist/'));
    assert.deepEqual(outside.sort(), ['README.md', 'package.json']);
  });

  it('every export target is in the package', () => {
    const targets: string[] = [];
    const walk = (value: unknown): void => {
      if (typeof value === 'string') targets.push(value.replace(/^\.\//, ''));
      else if (value && typeof value === 'object') Object.values(value).forEach(walk);
    };
    walk(manifest.exports);
    assert.ok(targets.length > 5);
    for (const target of targets) assert.ok(files.includes(target), `${target} is packed`);
  });

  it('holds no tests, sources, examples or compiled source maps', () => {
    const stray = files.filter(
      (f) =>
        /(^|\/)test\//.test(f) ||
        /\.test\.[jt]s$/.test(f) ||
        /^(src|bench|examples|scripts)\//.test(f) ||
        (f.endsWith('.js.map') && !f.startsWith('dist/browser/')),
    );
    assert.deepEqual(stray, []);
  });

  it('entropy-relay/client: the Node entry in Node, the browser entry for browsers', async () => {
    const consumer = join(dir, 'consumer');
    await mkdir(join(consumer, 'node_modules'), { recursive: true });
    await symlink(ROOT, join(consumer, 'node_modules/entropy-relay'));
    const probe =
      "const m = await import('entropy-relay/client');" +
      'const id = m.generateIdentity();' +
      'console.log(id.publicKey.constructor.name, typeof m.RelaySession, typeof m.setPowWorkerSource);';
    const node = await run(process.execPath, ['--input-type=module', '-e', probe], {
      cwd: consumer,
    });
    assert.equal(node.stdout.trim(), 'Buffer function undefined');
    const browser = await run(
      process.execPath,
      ['--conditions=browser', '--input-type=module', '-e', probe],
      { cwd: consumer },
    );
    assert.equal(browser.stdout.trim(), 'Uint8Array function function');
  });

  it('the types check in a browser project (DOM, no @types/node) and a Node project', async () => {
    const consumer = join(dir, 'typed');
    await mkdir(join(consumer, 'node_modules'), { recursive: true });
    await symlink(ROOT, join(consumer, 'node_modules/entropy-relay'));
    await writeFile(
      join(consumer, 'web.ts'),
      [
        "import { RelaySession, generateIdentity, type Identity } from 'entropy-relay/client';",
        'const identity: Identity = generateIdentity();',
        "const s = new RelaySession({ url: 'https://relay.example', identity });",
        "s.on('message', ({ envelope }) => document.title = envelope);",
        "s.on('binary', (data: Uint8Array) => data.byteLength);",
        'export const key: Uint8Array = identity.privateKey;',
      ].join('\n'),
    );
    await writeFile(
      join(consumer, 'node.ts'),
      [
        "import { RelaySession, generateIdentity, loadIdentity } from 'entropy-relay/client';",
        'const identity = generateIdentity();',
        "const s = new RelaySession({ url: 'https://relay.example', identity, ca: 'pem' });",
        "s.on('binary', (data: Buffer) => data.toString('hex'));",
        'export const load = loadIdentity;',
      ].join('\n'),
    );
    const project = async (name: string, options: Record<string, unknown>): Promise<void> => {
      const config = {
        compilerOptions: { noEmit: true, strict: true, target: 'es2022', ...options },
        files: [`${name}.ts`],
      };
      await writeFile(join(consumer, `tsconfig.${name}.json`), JSON.stringify(config));
      await run(process.execPath, [TSC, '-p', join(consumer, `tsconfig.${name}.json`)]).catch(
        (err: { stdout: string }) => assert.fail(`${name} project: ${err.stdout}`),
      );
    };
    await project('web', {
      module: 'esnext',
      moduleResolution: 'bundler',
      lib: ['es2022', 'dom'],
      types: [],
    });
    await project('node', {
      module: 'nodenext',
      moduleResolution: 'nodenext',
      lib: ['es2022'],
      types: ['node'],
      typeRoots: [join(ROOT, 'node_modules/@types')],
    });
  });
});
