// Bundles the relay's command line (src/cli.ts, with every server dependency) into one ES module,
// dist/cli.js, over the file tsc wrote there: Node then loads one file instead of resolving and
// reading some 600 modules, which takes the start-up of `entropy-relay serve` from about 1.3 s to
// about 0.5 s. The worker of `serve --workers N` is bundled the same way (dist/worker-main.js:
// the bundled primary looks for it next to itself). The rest of dist/ (the client library, its
// types) stays tsc's output. The Lua scripts of the Redis backend are read at run time next to
// the module that loads them, so they are copied next to the bundles too (dist/commands/).
import { cpSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

await build({
  entryPoints: [
    { in: join(root, 'src/cli.ts'), out: 'cli' },
    { in: join(root, 'src/cluster/worker-main.ts'), out: 'worker-main' },
  ],
  outdir: join(root, 'dist'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // ws's optional native helpers: loaded when installed, skipped when not.
  external: ['bufferutil', 'utf-8-validate'],
  // Bundled CommonJS dependencies call require(); an ES module has none of its own.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);",
  },
  sourcemap: true,
  logLevel: 'warning',
});
cpSync(join(root, 'src/store/redis/commands'), join(root, 'dist/commands'), { recursive: true });
