// `entropy-relay client …`: the smoke test an operator runs against a deployment.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestRelay, type TestRelay } from './helpers/relay.js';

const CLI = new URL('../src/cli.ts', import.meta.url).pathname;

function cli(args: string[]): {
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'client', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  return {
    done: new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))),
  };
}

describe('client CLI against a real relay', () => {
  let t: TestRelay;
  let dir: string;
  before(async () => {
    t = await startTestRelay({ powLimit: 1000, limitGlobal: 1000 });
    dir = await mkdtemp(join(tmpdir(), 'entropy-cli-'));
    await writeFile(join(dir, 'relay.pem'), t.relay.tls!.cert);
  });
  after(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keygen, upload, listen and send', async () => {
    const alice = join(dir, 'alice.json');
    const bob = join(dir, 'bob.json');
    assert.equal((await cli(['keygen', '--out', alice]).done).code, 0);
    const made = await cli(['keygen', '--out', bob]).done;
    assert.equal(made.code, 0);
    const bobHash = JSON.parse(made.stdout).identity_hash as string;
    assert.equal(JSON.parse(await readFile(bob, 'utf8')).identity_hash, bobHash);
    assert.equal((await cli(['keygen', '--out', bob]).done).code === 0, false, 'never overwrites');

    const conn = ['--url', t.relay.url, '--ca', join(dir, 'relay.pem')];
    const upload = await cli(['upload', ...conn, '--identity', bob]).done;
    assert.equal(upload.code, 0, upload.stderr);
    assert.equal(JSON.parse(upload.stdout).status, 'success');

    // A message sent while Bob is offline, then one while he listens (or is still connecting:
    // then it is queued behind the first; the order is the same either way).
    const queued = await cli([
      'send',
      ...conn,
      '--identity',
      alice,
      '--to',
      bobHash,
      '--message',
      'first',
    ]).done;
    assert.equal(queued.code, 0, queued.stderr);
    assert.equal(JSON.parse(queued.stdout).status, 'queued');
    const listen = cli(['listen', ...conn, '--identity', bob, '--count', '2', '--timeout', '60']);
    const live = await cli([
      'send',
      ...conn,
      '--identity',
      alice,
      '--to',
      bobHash,
      '--message',
      'second',
    ]).done;
    assert.equal(live.code, 0, live.stderr);
    const heard = await listen.done;
    assert.equal(heard.code, 0, heard.stderr);
    const lines = heard.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((l) => l.envelope),
      ['first', 'second'],
    );

    const bad = await cli(['send', ...conn, '--identity', alice, '--to', 'nope', '--message', 'x'])
      .done;
    assert.notEqual(bad.code, 0);
  });
});
