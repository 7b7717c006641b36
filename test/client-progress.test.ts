// The CLI's progress display (issue 12 item 6): PoW attempts/rate/elapsed and prekey generation
// on stderr, throttled, only on a terminal or with --progress; stdout stays one JSON object per
// line whatever stderr shows.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateIdentity } from '../src/client/identity.js';
import { saveIdentity } from '../src/client/identity-file.js';
import { Progress } from '../src/client/progress.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';

const CLI = new URL('../src/cli.ts', import.meta.url).pathname;

describe('CLI progress (stderr) and results (stdout)', () => {
  let t: TestRelay;
  let dir: string;
  before(async () => {
    // Difficulty 3: a few thousand hashes (what is shown does not depend on the difficulty).
    t = await startTestRelay({ powBase: 3, powLimit: 1000, limitGlobal: 1000 });
    dir = await mkdtemp(join(tmpdir(), 'entropy-progress-'));
    await writeFile(join(dir, 'relay.pem'), t.relay.tls!.cert);
  });
  after(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'client', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  }

  const jsonLines = (text: string): unknown[] =>
    text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);

  it('--progress: PoW and prekey progress on stderr; stdout is JSON lines only', async () => {
    const id = join(dir, 'id.json');
    await saveIdentity(id, generateIdentity());
    const conn = ['--url', t.relay.url, '--ca', join(dir, 'relay.pem'), '--identity', id];
    const up = await cli(['upload', ...conn, '--prekeys', '100', '--progress']);
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(jsonLines(up.stdout), [{ status: 'success', prekeys: 100 }]);
    assert.match(up.stderr, /^prekeys: 100\/100 generated$/m);
    assert.match(
      up.stderr,
      /^pow: difficulty \d+, [\d.]+[kM]? attempts, [\d.]+[kM]?\/s, [\d.]+ s, solved$/m,
    );
    assert.match(up.stderr, /^upload: stored \(100 prekeys on the relay\)$/m);

    const listen = await cli([...['listen', ...conn], '--timeout', '1', '--progress']);
    assert.equal(listen.code, 0, listen.stderr);
    assert.equal(listen.stdout, '', 'nothing received, nothing printed');
    assert.match(listen.stderr, /^auth: connected \(100 prekeys on the relay\)$/m);
    assert.match(listen.stderr, /solved$/m);
  });

  it('without a terminal and without --progress, stderr stays quiet', async () => {
    const id = join(dir, 'quiet.json');
    await saveIdentity(id, generateIdentity());
    const conn = ['--url', t.relay.url, '--ca', join(dir, 'relay.pem'), '--identity', id];
    const up = await cli(['upload', ...conn]);
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(jsonLines(up.stdout), [{ status: 'success', prekeys: 20 }]);
    assert.equal(up.stderr, '');
  });

  it('rejects a prekey count outside 1-100 before contacting the relay', async () => {
    const up = await cli(['upload', '--url', t.relay.url, '--identity', 'x', '--prekeys', '101']);
    assert.notEqual(up.code, 0);
    assert.match(up.stderr, /from 1 to 100/);
  });
});

describe('Progress (unit)', () => {
  it('on a terminal redraws one line; off, writes nothing', () => {
    const tty: string[] = [];
    const p = new Progress({ write: (s: string) => tty.push(s), isTTY: true }, true, 0);
    p.pow({ difficulty: 6, attempts: 25_000, elapsedMs: 1000 });
    p.pow({ difficulty: 6, attempts: 3_000_000, elapsedMs: 2000, done: true });
    assert.equal(tty[0], '\r\x1b[Kpow: difficulty 6, 25.0k attempts, 25.0k/s, 1.0 s');
    assert.equal(tty[1], '\r\x1b[Kpow: difficulty 6, 3.00M attempts, 1.50M/s, 2.0 s, solved\n');
    const off: string[] = [];
    const q = Progress.forStderr(undefined, { write: (s: string) => off.push(s), isTTY: false });
    q.pow({ difficulty: 6, attempts: 1, elapsedMs: 1, done: true });
    q.stage('x');
    assert.deepEqual(off, []);
  });
});
