// The project's documents stay true to the code: docs/openapi.json is what the routes describe
// and a valid OpenAPI 3.1 document, the relay serves it padded, every error code and every
// ENTROPY_ option is documented, and no document links outside the repository.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { openApiDocument } from '../scripts/openapi-document.js';
import { OPTIONS } from '../src/config/options.js';
import { ERROR_CODES } from '../src/errors.js';
import { CLOSE_CODES } from '../src/ws/error-frame.js';
import { assertPadded } from './helpers/padding.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';

const ROOT = resolve(import.meta.dirname, '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const COMMITTED = join(ROOT, 'docs/openapi.json');
const MARKER = '<!-- lead: verify -->';

/** Every Markdown file of the project's own documentation. */
function markdownFiles(): string[] {
  const found = ['README.md'];
  const walk = (dir: string): void => {
    if (!existsSync(join(ROOT, dir))) return;
    for (const name of readdirSync(join(ROOT, dir))) {
      const path = join(dir, name);
      if (statSync(join(ROOT, path)).isDirectory()) walk(path);
      else if (name.endsWith('.md')) found.push(path);
    }
  };
  walk('docs');
  walk('deploy');
  return found;
}

/** The targets of the Markdown links and HTML hrefs/srcs in `text`. */
function linkTargets(text: string): string[] {
  const targets: string[] = [];
  for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(m[1]!);
  for (const m of text.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm)) targets.push(m[1]!);
  for (const m of text.matchAll(/\b(?:href|src)\s*=\s*"([^"]+)"/g)) targets.push(m[1]!);
  for (const m of text.matchAll(/<(https?:\/\/[^>\s]+)>/g)) targets.push(m[1]!);
  return targets;
}

describe('docs/openapi.json', () => {
  let generated: Record<string, unknown>;
  before(async () => {
    generated = await openApiDocument();
  });

  it('is what the routes describe (run `npm run docs:openapi` after changing a route)', () => {
    const committed = JSON.parse(readFileSync(COMMITTED, 'utf8')) as unknown;
    assert.deepEqual(
      committed,
      generated,
      'docs/openapi.json is stale: run `npm run docs:openapi` and commit it',
    );
  });

  it('documents every REST route with its summary and a success reply', () => {
    const paths = generated.paths as Record<string, Record<string, Record<string, unknown>>>;
    const operations = Object.entries(paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ path, method, op })),
    );
    assert.deepEqual(operations.map((o) => `${o.method.toUpperCase()} ${o.path}`).sort(), [
      'GET /health',
      'GET /keys/fetch',
      'GET /keys/random',
      'GET /metrics',
      'GET /nickname/lookup',
      'GET /openapi.json',
      'GET /pow/challenge',
      'GET /ready',
      'POST /account/burn',
      'POST /keys/upload',
      'POST /nickname/register',
    ]);
    for (const { path, op } of operations) {
      assert.equal(typeof op.summary, 'string', path);
      const responses = op.responses as Record<string, unknown>;
      assert.ok(responses['200'] !== undefined && responses.default !== undefined, path);
    }
    // PoW-gated routes name their proof headers; errorMessage (an Ajv extension) is left out.
    const upload = paths['/keys/upload']!.post!;
    const headers = (upload.parameters as Array<{ name: string; in: string; required: boolean }>)
      .filter((p) => p.in === 'header')
      .map((p) => [p.name, p.required]);
    assert.deepEqual(headers, [
      ['x-pow-seed', true],
      ['x-pow-nonce', true],
    ]);
    assert.ok(!JSON.stringify(generated).includes('errorMessage'));
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(generated));
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    assert.equal(validator.version, '3.1');
  });

  it('a broken document is refused by the same validator (the check can fail)', async () => {
    const broken = structuredClone(generated) as { paths: Record<string, unknown> };
    (broken.paths['/health'] as { get: { responses: unknown } }).get.responses = 'none';
    const result = await new Validator().validate(broken);
    assert.equal(result.valid, false);
  });

  it('every schema in it compiles as JSON Schema 2020-12', () => {
    const ajv = new Ajv2020({ strict: true, validateFormats: false });
    const components = (generated.components as { schemas: Record<string, object> }).schemas;
    ajv.addSchema(components.Error!, '#/components/schemas/Error');
    let compiled = 0;
    const visit = (node: unknown): void => {
      if (typeof node !== 'object' || node === null) return;
      for (const [key, value] of Object.entries(node)) {
        if (key === 'schema' && typeof value === 'object' && value !== null && !('$ref' in value)) {
          ajv.compile(value);
          compiled++;
        } else visit(value);
      }
    };
    visit(generated.paths);
    assert.ok(compiled >= 20, `${compiled} schemas`);
  });
});

describe('GET /openapi.json', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay();
  });
  after(() => t.close());

  it('serves the committed document, padded, with the security headers', async () => {
    const res = await t.request('/openapi.json');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assertPadded(res.body);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.deepEqual(res.json, JSON.parse(readFileSync(COMMITTED, 'utf8')));
  });

  it('takes no method but GET (405/404 padded like any other route)', async () => {
    const res = await t.request('/openapi.json', { method: 'POST', body: '{}' });
    assert.ok(res.status === 404 || res.status === 405, String(res.status));
    assertPadded(res.body);
  });
});

describe('the documentation', () => {
  it('links nowhere outside the repository', () => {
    const offenders: string[] = [];
    for (const file of markdownFiles()) {
      for (const target of linkTargets(read(file))) {
        if (target.startsWith('#')) continue;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
          offenders.push(`${file}: ${target} (not a repository file)`);
          continue;
        }
        const path = resolve(ROOT, dirname(file), target.split('#')[0]!);
        const inside = !relative(ROOT, path).startsWith('..');
        if (!inside) offenders.push(`${file}: ${target} (outside the repository)`);
        else if (!existsSync(path)) offenders.push(`${file}: ${target} (missing)`);
      }
      // The contract the relay implements is docs/protocol.md, not a file beside the repository.
      for (const m of read(file).matchAll(/\.\.\/shared\b|\bPROTOCOL\.md\b|\bSPECS\.md\b/g))
        offenders.push(`${file}: mentions ${m[0]}`);
    }
    assert.deepEqual(offenders, []);
  });

  it('the link check finds links that leave the repository (it can fail)', () => {
    const text =
      '[a](https://example.org/x) [b](../../etc/passwd) <a href="http://x">x</a> [c](#ok)';
    assert.deepEqual(linkTargets(text).sort(), [
      '#ok',
      '../../etc/passwd',
      'http://x',
      'https://example.org/x',
    ]);
  });

  it('docs/protocol.md names every error code and every WebSocket close code', () => {
    const protocol = read('docs/protocol.md');
    const missing = ERROR_CODES.filter((code) => !protocol.includes(`\`${code}\``));
    assert.deepEqual(missing, [], 'error codes missing from docs/protocol.md');
    const closeCodes = [...new Set(Object.values(CLOSE_CODES)), 1007];
    const missingClose = closeCodes.filter((code) => !protocol.includes(String(code)));
    assert.deepEqual(missingClose, [], 'close codes missing from docs/protocol.md');
  });

  it('every ENTROPY_ option appears in the README or in docs/', () => {
    const text = [read('README.md'), ...markdownFiles().map(read)].join('\n');
    const missing = OPTIONS.map((o) => o.env).filter((env) => !text.includes(env));
    assert.deepEqual(missing, []);
  });

  it('every ENTROPY_ variable the docs mention is an option, or marked as being built', () => {
    // Operations documents features still being built: their variables carry a lead marker.
    const known = new Set<string>(OPTIONS.map((o) => o.env));
    const unknown: string[] = [];
    for (const file of markdownFiles()) {
      // A marker applies to its own paragraph, or alone on a line to the block after it.
      const paragraphs = read(file).split(/\n\s*\n/);
      paragraphs.forEach((paragraph, i) => {
        const marked = [paragraph, paragraphs[i - 1] ?? ''].some((p) => p.includes(MARKER));
        for (const m of paragraph.matchAll(/\bENTROPY_[A-Z0-9_]+/g)) {
          if (!known.has(m[0]) && !marked) unknown.push(`${file}: ${m[0]}`);
        }
      });
    }
    assert.deepEqual([...new Set(unknown)], []);
  });
});
