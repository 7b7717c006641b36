// The client library as a package: the browser entry's primitives (@noble) agree with the relay's
// rules (node:crypto), identities move between the Node and browser forms, the browser entry runs
// against a real relay (here in Node, with `ws` as its WebSocket and fetch for REST).
// The CLI's progress display: test/client-progress.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import WebSocket from 'ws';
import * as web from '../src/client/browser.js';
import { Emitter } from '../src/client/core/emitter.js';
import { generateIdentity, signMessage } from '../src/client/identity.js';
import { identityFromJson, identityToJson } from '../src/client/identity-file.js';
import { RelaySession } from '../src/client/ws-client.js';
import { identityHashOf, verifySignature } from '../src/identity/crypto.js';
import { leadingZeroNibbles, powDigest, powDigestMeets } from '../src/pow/hash-rule.js';
import { startTestRelay, type TestRelay } from './helpers/relay.js';
import { nextEvent } from './helpers/wait.js';

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
