// The client library as a package: the browser entry's primitives (@noble) agree with the relay's
// rules (node:crypto), identities move between the Node and browser forms, the browser entry runs
// against a real relay (here in Node, with `ws` as its WebSocket and fetch for REST), and the
// CLI's progress goes to stderr while stdout stays one JSON object per line.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import WebSocket from 'ws';
import * as web from '../src/client/browser.js';
import { Emitter } from '../src/client/core/emitter.js';
import { generateIdentity, signMessage } from '../src/client/identity.js';
import { identityFromJson, identityToJson, saveIdentity } from '../src/client/identity-file.js';
import { Progress } from '../src/client/progress.js';
import { RelaySession } from '../src/client/ws-client.js';
import { identityHashOf, verifySignature } from '../src/identity/crypto.js';
import { leadingZeroNibbles, powDigest, powDigestMeets } from '../src/pow/hash-rule.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { nextEvent } from './helpers/wait.js';

const CLI = new URL('../src/cli.ts', import.meta.url).pathname;
const WebSocketCtor = WebSocket as unknown as web.WebSocketConstructor;

describe('browser primitives match the relay', () => {
  it('the @noble PoW search finds nonces the relay accepts, and only those', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[0-9a-f]{16,64}$/),
        fc.string({ unit: 'grapheme', maxLength: 20 }),
        fc.integer({ min: 1, max: 3 }),
        (seed, context, difficulty) => {
          const nonce = web.solvePowSync(seed, context, difficulty);
          assert.ok(powDigestMeets(seed, context, nonce, difficulty));
          // Every nonce below the one found fails the relay's rule too (same first solution).
          for (let n = 0; n < Number(nonce); n++)
            assert.equal(powDigestMeets(seed, context, String(n), difficulty), false);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('signatures and identity hashes of browser identities verify on the relay', () => {
    const id = web.generateIdentity();
    assert.equal(id.identityHash, identityHashOf(id.publicKey));
    const text = `AUTH:${id.identityHash}:${'ab'.repeat(16)} ✓`;
    const signature = Buffer.from(web.signMessage(id, text), 'base64');
    assert.ok(verifySignature(id.publicKey, text, signature));
    assert.equal(verifySignature(id.publicKey, text + '!', signature), false);
    // And the other way: a Node signature verifies with the browser's verify.
    const node = generateIdentity();
    assert.ok(web.verifySignature(node.publicKey, 'x', web.fromBase64(signMessage(node, 'x'))));
  });

  it('a leading-zero count is the same on both sides', () => {
    for (let i = 0; i < 200; i++) {
      const digest = powDigest(randomBytes(8).toString('hex'), '', String(i));
      const bytes = new Uint8Array(digest);
      bytes[0] = i % 3 === 0 ? 0 : bytes[0]!;
      assert.equal(leadingZeroNibbles(bytes), leadingZeroNibbles(Buffer.from(bytes)));
    }
  });

  it('identity files move between the CLI (Node) and the browser form', () => {
    const node = generateIdentity();
    const inBrowser = web.identityFromJson(identityToJson(node));
    assert.equal(inBrowser.identityHash, node.identityHash);
    assert.deepEqual(Buffer.from(inBrowser.publicKey), node.publicKey);
    const back = identityFromJson(web.identityToJson(inBrowser));
    assert.equal(back.identityHash, node.identityHash);
    assert.equal(
      signMessage(back, 'm'),
      web.signMessage(inBrowser, 'm'),
      'Ed25519 is deterministic',
    );
  });

  it('refuses an identity file that is not Ed25519 or whose hash disagrees', () => {
    const json = web.identityToJson(web.generateIdentity());
    assert.throws(
      () => web.identityFromJson({ ...json, identity_hash: 'ab'.repeat(32) }),
      /does not match/,
    );
    assert.throws(() => web.identityFromJson({ private_key: 'nope' }), /not an Ed25519 key/);
    assert.throws(() => web.identityFromJson(null), /no private_key/);
  });
});

describe('the emitter of the platform-neutral session', () => {
  it('works with events.once and removes once-listeners after one call', async () => {
    const e = new Emitter<{ ping: [number] }>();
    const got = once(e as never, 'ping');
    let calls = 0;
    e.once('ping', () => calls++);
    e.emit('ping', 7);
    e.emit('ping', 8);
    assert.deepEqual(await got, [7]);
    assert.equal(calls, 1);
    assert.equal(e.listenerCount('ping'), 0);
  });
});

describe('the browser entry against a real relay (in Node: fetch + ws)', () => {
  let t: TestRelay;
  before(async () => {
    t = await startTestRelay({ tls: false, powBase: 2 });
  });
  after(() => t.close());

  it('uploads a bundle, authenticates and exchanges messages with a Node client', async () => {
    const alice = web.generateIdentity();
    const rest = new web.RelayClient({ url: t.relay.url });
    const progress: web.PowProgress[] = [];
    const up = await rest.uploadBundle(alice, { preKeys: 3 });
    assert.deepEqual(up, { status: 'success', prekeys: 3 });
    const fetched = await rest.fetchBundle(alice.identityHash);
    assert.equal(fetched.identityKey, web.toBase64(alice.publicKey));

    const aliceSession = new web.RelaySession({
      url: t.relay.url,
      identity: alice,
      WebSocket: WebSocketCtor,
      onPowProgress: (p) => progress.push(p),
    });
    const bob = generateIdentity();
    const bobSession = new RelaySession({ url: t.relay.url, identity: bob });
    try {
      const auth = await aliceSession.connect();
      assert.equal(auth.identity_hash, alice.identityHash);
      assert.equal(auth.prekeys, 2, 'the fetch above took one');
      assert.equal(progress.at(-1)?.done, true, 'the solver reported its end');
      await bobSession.connect();

      const heard = nextEvent(bobSession, 'message');
      const status = await aliceSession.send(bob.identityHash, 'from the browser build');
      assert.equal(status.status, 'delivered');
      assert.equal((await heard)[0].envelope, 'from the browser build');

      const back = nextEvent(aliceSession, 'message');
      assert.equal((await bobSession.send(alice.identityHash, 'and back')).status, 'delivered');
      assert.equal((await back)[0].envelope, 'and back');
    } finally {
      await aliceSession.close();
      await bobSession.close();
    }
  });

  it('a bad request comes back as a typed RelayClientError', async () => {
    const rest = new web.RelayClient({ url: t.relay.url });
    await assert.rejects(rest.fetchBundle('zz'), (err: web.RelayClientError) => {
      assert.ok(err instanceof web.RelayClientError);
      assert.equal(err.status, 400);
      assert.equal(err.code, 'invalid_identity_hash');
      return true;
    });
  });
});

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
