// WebSocket authentication (relay/auth-service.ts, docs/protocol.md §4.2) without a socket: the real
// AuthService on the real PowService, RateLimiter and MemoryStore of helpers/domain.ts (built as
// server.ts builds them), on an injected clock. A PoW with a signature over `AUTH:<H>:<seed>`
// (the key given or the stored bundle's), or a session token; every refusal is 401 auth_failed;
// the IP's bucket is taken before the payload is read, the identity's only once the proof holds;
// tokens expire and are bounded per identity; the store's absence fails closed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { generateIdentity, signMessage, type Identity } from '../src/client/identity.js';
import type { Config } from '../src/config.js';
import { AuthService, type AuthResult } from '../src/relay/auth-service.js';
import { ServerSecret } from '../src/secret.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { DAY_MS, SECOND_MS } from '../src/time.js';
import { SECRET, T0, counterValue, startDomain } from './helpers/domain.js';
import { solveExactly } from './helpers/pow.js';

const IP = '198.51.100.7';
const OTHER_IP = '203.0.113.9';
/** Attempts allowed per IP and per identity unless a test says otherwise: none is limited. */
const GENEROUS = { limitWsAuth: 1000, limitWsAuthIdentity: 1000 };

async function setup(t: TestContext, overrides: Partial<Config> = {}) {
  const clock = { now: T0 };
  // The lowest difficulty: a proof costs a few hundred hashes.
  const d = await startDomain({ powBase: 2, ...GENEROUS, ...overrides }, { now: () => clock.now });
  t.after(() => d.stop());
  const { store, metrics, pow } = d;
  const auth = new AuthService(store, pow, d.limiter, d.config, new ServerSecret(SECRET));

  /** A valid PoW auth payload for `identity` (an identity hash, or a legacy name in v1). */
  async function proof(identity: Identity | string, extra: Record<string, unknown> = {}) {
    const h = typeof identity === 'string' ? identity : identity.identityHash;
    const { seed, difficulty } = await pow.issue({ type: 'auth', identityHash: h });
    const payload: Record<string, unknown> = {
      identity_hash: h,
      seed,
      nonce: solveExactly(seed, h, difficulty),
    };
    if (typeof identity !== 'string') {
      payload.public_key = identity.publicKey.toString('base64');
      payload.signature = signMessage(identity, `AUTH:${h}:${seed}`);
    }
    return { ...payload, ...extra };
  }

  return { clock, store, metrics, pow, auth, proof };
}

/** `attempt` is refused with this status and code (and a message matching `message`). */
async function refused(
  attempt: Promise<unknown>,
  code: string,
  status: number,
  message?: RegExp,
): Promise<{ retryAfterS?: number }> {
  let error: unknown;
  await assert.rejects(attempt, (err: { code?: string; status?: number; message: string }) => {
    error = err;
    assert.equal(err.code, code, err.message);
    assert.equal(err.status, status);
    if (message) assert.match(err.message, message);
    return true;
  });
  return error as { retryAfterS?: number };
}

const authFailed = (attempt: Promise<unknown>, message?: RegExp) =>
  refused(attempt, 'auth_failed', 401, message);

/** A bundle as the store keeps it: its identity part names the identity key. */
async function storeBundle(store: MemoryStore, identity: Identity, prekeys: string[] = []) {
  const bundle = JSON.stringify({ identityKey: identity.publicKey.toString('base64') });
  await store.putBundle(identity.identityHash, bundle, prekeys, 30 * DAY_MS);
}

describe('auth by proof of work and signature', () => {
  it('issues a session token; reports missing keys and the acks choice', async (t) => {
    const s = await setup(t);
    const alice = generateIdentity();
    const result = await s.auth.authenticate(await s.proof(alice), IP);
    assert.equal(result.identity, alice.identityHash);
    assert.match(result.token, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url');
    assert.equal(result.keysMissing, true);
    assert.equal(result.prekeys, 0);
    assert.equal(result.acks, false);
    const withAcks = await s.auth.authenticate(await s.proof(alice, { acks: true }), IP);
    assert.equal(withAcks.acks, true);
    assert.notEqual(withAcks.token, result.token);
  });

  it('takes the identity in any case and answers in lower case', async (t) => {
    const s = await setup(t);
    const alice = generateIdentity();
    // The PoW context and the signed text are the identity in lower case.
    const payload = await s.proof(alice, { identity_hash: alice.identityHash.toUpperCase() });
    assert.equal((await s.auth.authenticate(payload, IP)).identity, alice.identityHash);
  });

  it("with a stored bundle: the prekeys left, and the bundle's key when none is given", async (t) => {
    const s = await setup(t);
    const alice = generateIdentity();
    await storeBundle(s.store, alice, ['p1', 'p2', 'p3']);
    const keyless = await s.proof(alice, { public_key: undefined });
    const result = await s.auth.authenticate(keyless, IP);
    assert.equal(result.keysMissing, false);
    assert.equal(result.prekeys, 3);
  });

  it('without a bundle, a key must be given', async (t) => {
    const s = await setup(t);
    const alice = generateIdentity();
    await authFailed(
      s.auth.authenticate(await s.proof(alice, { public_key: undefined }), IP),
      /public_key is required/,
    );
  });

  it('refuses a bad proof of work, and a seed spent already', async (t) => {
    const s = await setup(t);
    const alice = generateIdentity();
    const payload = await s.proof(alice);
    // The first nonce that does no work at all for this seed.
    const idle = solveExactly(String(payload.seed), alice.identityHash, 0);
    await authFailed(s.auth.authenticate({ ...payload, nonce: idle }, IP), /does not meet/);
    await authFailed(s.auth.authenticate({ ...payload, nonce: 'x' }, IP), /malformed/);
    await authFailed(s.auth.authenticate({ ...payload, nonce: undefined }, IP), /missing/);
    await authFailed(s.auth.authenticate({ ...payload, seed: 'forged' }, IP), /seed/);
    // None of these spent the seed; the valid proof does.
    await s.auth.authenticate(payload, IP);
    await authFailed(s.auth.authenticate(payload, IP), /already used/);
  });

  it("refuses a missing or wrong signature, and a key that is not the identity's", async (t) => {
    const s = await setup(t);
    const alice = generateIdentity();
    const mallory = generateIdentity();
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ signature: undefined }, /missing/],
      [{ signature: '' }, /missing/],
      [{ signature: signMessage(alice, 'AUTH:something else') }, /not valid/],
      [{ signature: 'not base64!' }, /not valid/],
      [{ public_key: mallory.publicKey.toString('base64') }, /mismatch/],
      [{ public_key: 'not base64!' }, /base64/],
    ];
    for (const [change, message] of cases)
      await authFailed(s.auth.authenticate(await s.proof(alice, change), IP), message);
    // Mallory's own key and signature, claiming Alice's identity.
    const claimed = await s.proof(alice, { public_key: mallory.publicKey.toString('base64') });
    claimed.signature = signMessage(mallory, `AUTH:${alice.identityHash}:${String(claimed.seed)}`);
    await authFailed(s.auth.authenticate(claimed, IP), /mismatch/);
    // Every refusal left the identity as it was: a valid proof still succeeds.
    await s.auth.authenticate(await s.proof(alice), IP);
  });

  it('refuses a payload that is not an object or names no identity', async (t) => {
    const s = await setup(t);
    for (const payload of [undefined, null, 'auth', 42, ['a']])
      await authFailed(s.auth.authenticate(payload, IP), /must be an object/);
    for (const h of [undefined, 'alice', 'ab'.repeat(31), 7])
      await authFailed(s.auth.authenticate({ identity_hash: h }, IP), /identity_hash must be/);
  });
});

describe('compat v1', () => {
  it('PoW alone authenticates an identity hash or a legacy name', async (t) => {
    const s = await setup(t, { compat: 'v1' });
    const alice = generateIdentity();
    const keyless = await s.proof(alice, { public_key: undefined, signature: undefined });
    assert.equal((await s.auth.authenticate(keyless, IP)).identity, alice.identityHash);
    assert.equal((await s.auth.authenticate(await s.proof('alice'), IP)).identity, 'alice');
    // A key that is given is still checked.
    const wrongKey = await s.proof(alice, {
      public_key: generateIdentity().publicKey.toString('base64'),
    });
    await authFailed(s.auth.authenticate(wrongKey, IP), /mismatch/);
  });

  it('is off by default: PoW alone is refused, and a legacy name is no identity', async (t) => {
    const s = await setup(t);
    const alice = generateIdentity();
    const keyless = await s.proof(alice, { public_key: undefined, signature: undefined });
    await authFailed(s.auth.authenticate(keyless, IP), /public_key is required/);
    await authFailed(s.auth.authenticate(await s.proof('alice'), IP), /identity_hash must be/);
  });
});

describe('auth by session token', () => {
  it('a token authenticates its identity again, for a new token', async (t) => {
    const s = await setup(t);
    const alice = generateIdentity();
    await storeBundle(s.store, alice, ['p1']);
    const first = await s.auth.authenticate(await s.proof(alice), IP);
    const again = await s.auth.authenticate(
      { identity_hash: alice.identityHash, session_token: first.token, acks: true },
      OTHER_IP,
    );
    assert.deepEqual({ ...again, token: '' }, {
      identity: alice.identityHash,
      token: '',
      keysMissing: false,
      prekeys: 1,
      acks: true,
    } satisfies AuthResult);
    assert.notEqual(again.token, first.token);
  });

  it('refuses an unknown token, one of another identity, and one that is not a string', async (t) => {
    const s = await setup(t);
    const alice = generateIdentity();
    const bob = generateIdentity();
    const { token } = await s.auth.authenticate(await s.proof(alice), IP);
    const as = (identity: Identity, session_token: unknown) =>
      s.auth.authenticate({ identity_hash: identity.identityHash, session_token }, IP);
    await authFailed(as(bob, token), /invalid or expired/);
    await authFailed(as(alice, randomBytes(32).toString('base64url')), /invalid or expired/);
    await authFailed(as(alice, ''), /invalid or expired/);
    for (const notText of [null, 42, { token }, [token]])
      await authFailed(as(alice, notText), /invalid or expired/);
    // None of these spent it.
    await as(alice, token);
  });

  it('a token expires sessionTtlS after it was issued', async (t) => {
    const s = await setup(t, { sessionTtlS: 60 });
    const alice = generateIdentity();
    const { token } = await s.auth.authenticate(await s.proof(alice), IP);
    const withToken = (session_token: string) =>
      s.auth.authenticate({ identity_hash: alice.identityHash, session_token }, IP);
    s.clock.now += 60 * SECOND_MS - 1;
    const { token: renewed } = await withToken(token);
    s.clock.now += 1;
    await authFailed(withToken(token), /invalid or expired/);
    // The token issued on the way has a life of its own.
    await withToken(renewed);
  });

  it('at most maxSessionTokens live per identity: each new one revokes the oldest', async (t) => {
    const s = await setup(t, { maxSessionTokens: 2 });
    const alice = generateIdentity();
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++)
      tokens.push((await s.auth.authenticate(await s.proof(alice), IP)).token);
    const withToken = (session_token: string) =>
      s.auth.authenticate({ identity_hash: alice.identityHash, session_token }, IP);
    await authFailed(withToken(tokens[0]!), /invalid or expired/);
    // tokens[1] is the oldest live one: using it issues a fourth, which revokes tokens[1] itself.
    await withToken(tokens[1]!);
    await authFailed(withToken(tokens[1]!), /invalid or expired/);
    await withToken(tokens[2]!);
  });
});

describe('auth rate limits', () => {
  it("the IP's bucket is taken before the payload is read: garbage counts", async (t) => {
    const s = await setup(t, { limitWsAuth: 3 });
    const alice = generateIdentity();
    await authFailed(s.auth.authenticate(null, IP));
    await authFailed(s.auth.authenticate({ identity_hash: 'x' }, IP));
    await s.auth.authenticate(await s.proof(alice), IP);
    const error = await refused(s.auth.authenticate(await s.proof(alice), IP), 'rate_limited', 429);
    assert.ok(error.retryAfterS! >= 1 && error.retryAfterS! <= 60, `${error.retryAfterS}`);
    assert.equal(await counterValue(s.metrics.rateLimited), 1);
    // Another IP has its own bucket; this one refills with time.
    await s.auth.authenticate(await s.proof(alice), OTHER_IP);
    s.clock.now += error.retryAfterS! * SECOND_MS;
    await s.auth.authenticate(await s.proof(alice), IP);
  });

  it("the identity's bucket is taken only once the proof holds, from any IP", async (t) => {
    const s = await setup(t, { limitWsAuthIdentity: 2 });
    const alice = generateIdentity();
    // Failed attempts for Alice's identity do not drain her bucket.
    for (let i = 0; i < 10; i++) {
      const forged = await s.proof(alice, { signature: signMessage(alice, 'not the text') });
      await authFailed(s.auth.authenticate(forged, OTHER_IP));
    }
    const { token } = await s.auth.authenticate(await s.proof(alice), IP);
    await s.auth.authenticate(await s.proof(alice), OTHER_IP);
    // Her bucket is empty now, for proofs and tokens alike, whatever the IP.
    await refused(s.auth.authenticate(await s.proof(alice), '192.0.2.1'), 'rate_limited', 429);
    await refused(
      s.auth.authenticate({ identity_hash: alice.identityHash, session_token: token }, IP),
      'rate_limited',
      429,
    );
    // Bob is not affected.
    await s.auth.authenticate(await s.proof(generateIdentity()), IP);
  });

  it('fails closed while the store is unavailable: storage_unavailable', async (t) => {
    const s = await setup(t);
    const alice = generateIdentity();
    const payload = await s.proof(alice);
    await s.store.close();
    await refused(s.auth.authenticate(payload, IP), 'storage_unavailable', 503);
  });
});
