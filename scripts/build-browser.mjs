// Bundles the browser client (src/client/browser.ts) into one ES module for pages that load it
// without a bundler: dist/browser/entropy-relay-client.js (or into the directory given as the
// first argument). The PoW Web Worker is built first and inlined (its workers then start from a
// blob: URL), so the bundle is a single file.
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = process.argv[2] ? resolve(process.argv[2]) : join(root, 'dist/browser');
const outfile = join(outDir, 'entropy-relay-client.js');
const common = {
  bundle: true,
  platform: 'browser',
  target: 'es2022',
  minify: true,
  logLevel: 'warning',
};

const worker = await build({
  ...common,
  entryPoints: [join(root, 'src/client/web-pow-worker.ts')],
  format: 'iife',
  write: false,
});

mkdirSync(dirname(outfile), { recursive: true });
await build({
  ...common,
  stdin: {
    contents: [
      "import { setPowWorkerSource } from './src/client/web-pow.ts';",
      `setPowWorkerSource(${JSON.stringify(worker.outputFiles[0].text)});`,
      "export * from './src/client/browser.ts';",
    ].join('\n'),
    resolveDir: root,
    sourcefile: 'entropy-relay-client.ts',
    loader: 'ts',
  },
  format: 'esm',
  sourcemap: true,
  outfile,
  // Nothing in the browser client may pull in a Node module: fail the build if one does.
  external: [],
});
process.stdout.write(`wrote ${outfile}\n`);
